"""The ``pytest11`` entry point (``bnconform.app.pytest_entry``) loads the suite's plugin only for a
command line that runs the suite, so that an environment with bnconform installed keeps its own
``--target`` or ``--device`` options in every other pytest run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnconform.app import pytest_entry as entry

SUITE = Path(entry.__file__).resolve().parents[1] / "conformance"


@pytest.mark.parametrize("args", [
    ["--pyargs", "bnconform.conformance"],
    ["--pyargs", "bnconform.conformance.test_properties", "--target", "torch"],
    ["--pyargs", "bnconform.conformance.test_properties::test_property"],
    [str(SUITE)],
    [str(SUITE / "test_properties.py") + "::test_property"],
])
def test_the_suite_on_the_command_line_loads_the_plugin(args):
    assert entry.names_the_suite(args)


@pytest.mark.parametrize("args", [
    [], ["tests"], ["-k", "bnconform.conformance"], ["--pyargs", "bnconform.conformancex"],
    ["--pyargs", "mypackage.tests"], [str(SUITE.parent / "reports")],
])
def test_anything_else_leaves_the_options_alone(args):
    assert not entry.names_the_suite(args)
