"""The ``pytest11`` entry point: loads :mod:`bnconform.app.suite_plugin` when pytest is asked to run
the suite, and does nothing otherwise.

An installed ``pytest11`` plugin is loaded by every pytest run in the environment; the suite's
options (``--target``, ``--device``, ...) are common names that a project's own ``conftest.py``
may define too. So this module adds them only when the command line names the suite:
``pytest --pyargs bnconform.conformance[.test_x...]`` or a path inside the installed suite.
"""

from __future__ import annotations

from pathlib import Path

SUITE = "bnconform.conformance"
PLUGIN = "bnconform.app.suite_plugin"
_SUITE_DIR = Path(__file__).resolve().parents[1] / "conformance"


#: pytest's options whose value is the next argument (an expression or a name, never a test to run)
_TAKES_VALUE = {"-k", "-m", "-p", "-c", "-o", "--rootdir", "--confcutdir", "--basetemp", "--deselect", "--ignore"}


def names_the_suite(args: list[str]) -> bool:
    """Whether a pytest command line (its arguments) runs the conformance suite."""
    skip = False
    for arg in args:
        if skip or arg.startswith("-"):
            skip = not skip and arg in _TAKES_VALUE
            continue
        target = arg.split("::", 1)[0]
        if target == SUITE or target.startswith(SUITE + "."):
            return True
        try:
            path = Path(target).resolve()
        except (OSError, ValueError):
            continue
        if path == _SUITE_DIR or _SUITE_DIR in path.parents:
            return True
    return False


def pytest_load_initial_conftests(early_config, parser, args):
    if names_the_suite(list(args)):
        early_config.pluginmanager.import_plugin(PLUGIN)
