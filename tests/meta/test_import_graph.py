"""The packages form layers without cycles (issue 10): read from the source with ``ast``
(:mod:`tests.meta.import_graph`), lazy imports inside functions included.

Lowest first: ``reference``; the ``bnconform`` core (cases, strategies, tolerance, comparison,
checks, bounds, models, dtypes); ``engines`` (one record per engine); ``adapters`` and ``reports`` (neither imports the other: a
report renders without any adapter or framework); ``training`` (the trainer and job contracts and
the per-framework training machinery both experiments share); ``cifar`` and ``benchmarks``; ``blobs``;
``app`` (the commands, child processes, progress and the pytest plugins), the one component that
imports both the adapters and the reports; and the suite's test modules, ``conformance``. The checker itself is tested on a
planted back-edge, so a passing graph test is not a checker that sees nothing.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .import_graph import (LAYERS, PACKAGES, Edge, component_graph, component_of, cycles, imports_of,
                           project_edges, violations)

REPO = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("torch", "tensorflow", "keras", "tf_keras", "jax", "jaxlib", "flax", "optax", "scipy", "PIL")


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return project_edges(REPO)


def test_the_project_graph_follows_the_layers_and_has_no_cycle(edges):
    assert [e.describe() for e in violations(edges)] == []
    assert cycles(component_graph(edges)) == []


def test_the_graph_sees_the_edges_the_layers_rely_on(edges):
    # hand-listed imports that exist today: a checker that found none of them would pass anything
    pairs = {e.components() for e in edges}
    for expected in [("bnconform-core", "reference"), ("adapters", "bnconform-core"),
                     ("app", "adapters"), ("app", "reports"), ("app", "cifar"),
                     ("app", "training"), ("cifar", "training"), ("blobs", "training"),
                     ("training", "adapters"), ("blobs", "cifar"), ("cifar", "adapters")]:
        assert expected in pairs, expected
    # only the command imports both the adapters and the reports
    both = {a for a, _ in pairs if (a, "adapters") in pairs and (a, "reports") in pairs}
    assert both == {"app"}


@pytest.mark.parametrize("component", ["reference", "bnconform-core", "reports"])
def test_the_core_and_the_reports_import_no_framework(component):
    paths = [path for path in sorted((REPO / "bnconform").rglob("*.py"))
             if component_of(".".join(path.relative_to(REPO).with_suffix("").parts)) == component]
    assert paths, component
    imported = {(e.source, e.target) for path in paths
                for e in imports_of(path, REPO) if e.target.split(".")[0] in FRAMEWORKS}
    assert imported == set()


def test_every_project_module_is_in_a_declared_layer():
    layered = {c for layer in LAYERS for c in layer}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            assert component_of(name) in layered, name


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_a_planted_back_edge_is_a_violation_and_a_cycle(tmp_path):
    clean = {
        "bnconform/reference/__init__.py": "",
        "bnconform/__init__.py": "",
        "bnconform/cases.py": "from bnconform.reference import x\n",
        "bnconform/app/cli.py": "from bnconform import adapters\nfrom bnconform.reports import page\n",
        "bnconform/adapters/__init__.py": "from bnconform.cases import Case\n",
        "bnconform/reports/__init__.py": "from . import page\n",
        "bnconform/reports/page.py": "from bnconform import cases\n",
    }
    _write(tmp_path, clean)
    edges = project_edges(tmp_path)
    assert violations(edges) == [] and cycles(component_graph(edges)) == []
    # a lazy import, inside a function, of the CLI from the core: the cycle core -> cli -> core
    _write(tmp_path, {"bnconform/cases.py": """\
        from bnconform.reference import x

        def replay():
            from bnconform.app.cli import main
            return main
        """})
    edges = project_edges(tmp_path)
    assert [e.describe() for e in violations(edges)] == [
        "bnconform.cases (line 4) imports bnconform.app.cli: bnconform-core -> app"]
    # one strongly connected set: core -> cli -> adapters -> core, cli -> reports -> core
    assert cycles(component_graph(edges)) == [["adapters", "app", "bnconform-core", "reports"]]


def test_relative_dynamic_and_same_layer_imports_are_seen(tmp_path):
    _write(tmp_path, {
        "bnconform/reference/__init__.py": "",
        "bnconform/__init__.py": "",
        "bnconform/adapters/__init__.py": "",
        "bnconform/reports/__init__.py": "",
        "bnconform/reports/targets.py": "import importlib\n\ndef f():\n    return importlib.import_module('bnconform.adapters')\n",
        "bnconform/reports/sub/__init__.py": "",
        "bnconform/reports/sub/deep.py": "from ... import adapters\n",
    })
    found = sorted(e.describe() for e in violations(project_edges(tmp_path)))
    assert found == ["bnconform.reports.sub.deep (line 1) imports bnconform.adapters: reports -> adapters",
                     "bnconform.reports.targets (line 4) imports bnconform.adapters: reports -> adapters"]
