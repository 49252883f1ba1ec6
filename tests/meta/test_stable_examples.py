"""The same examples however the suite is run, and each parametrization its own: Hypothesis's
derandomized examples are keyed by what a conformance test checks (``pytest_runtest_call`` in
``bnconform/conformance/conftest.py``), not by its node id, which depends on the rootdir (Hypothesis
keys a test parametrized by a marker by its node id, and all the parametrizations made by
``pytest_generate_tests`` by nothing at all: they would share one stream). The same tests run as the repository's own ``python -m pytest``
names them (rootdir the repository: node ids ``bnconform/conformance/test_properties.py::...``) and
as ``bnconform run`` runs them (``--pyargs``, the suite's own rootdir: ``test_properties.py::...``)
must record the same worst err/tol, to the last bit, test by test: a different example would move it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "bnconform" / "conformance"
SELECT = ["--target", "torch", "-k", "test_property and (conv2d or pool2d-avg) and float32",
          "--hypothesis-profile", "ci", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]


def _records(tmp_path: Path, name: str, args: list[str], cwd: Path) -> dict[tuple, dict]:
    out = tmp_path / name
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env.update(CI="true", PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, *SELECT, "--results", str(out)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert (out / "results.json").is_file(), proc.stdout[-3000:] + proc.stderr[-2000:]
    records = json.loads((out / "results.json").read_text())["records"]
    return {(r["property"], r.get("kind"), r["dtype"], r["mode"]): r for r in records if r["verdict"] != "skip"}


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_repository_run_and_packaged_run_draw_the_same_examples(tmp_path):
    from_repo = _records(tmp_path, "repo", ["bnconform/conformance/test_properties.py", "--rootdir", str(REPO)], REPO)
    elsewhere = tmp_path / "project"
    elsewhere.mkdir()
    packaged = _records(tmp_path, "packaged", ["--pyargs", "bnconform.conformance.test_properties",
                                               "-p", "bnconform.app.suite_plugin", "-c", str(SUITE / "pytest.ini"),
                                               "--rootdir", str(SUITE)], elsewhere)
    assert from_repo and set(from_repo) == set(packaged)
    ids = {key: (from_repo[key]["id"], packaged[key]["id"]) for key in from_repo}
    assert all(a != b for a, b in ids.values())  # the node ids do differ
    ratios = {key: (from_repo[key]["max_tol_ratio"], packaged[key]["max_tol_ratio"]) for key in from_repo}
    assert all(a == b for a, b in ratios.values()), ratios


class _Item:
    """What the hook reads of a pytest item: its marker, parameters, test name and Hypothesis's inner test."""

    def __init__(self, nodeid: str, **params):
        self.nodeid, self.originalname = nodeid, "test_property"
        self.callspec = type("CallSpec", (), {"params": params})()
        self.obj = type("Obj", (), {"hypothesis": type("H", (), {"inner_test": type("Inner", (), {})})()})()

    def get_closest_marker(self, name):
        return pytest.mark.bnconform(property="conv2d", op="conv2d").mark if name == "bnconform" else None


def _key(item: _Item) -> bytes:
    from bnconform.conformance import conftest

    conftest.pytest_runtest_call(item)
    return item.obj.hypothesis.inner_test._hypothesis_internal_add_digest


def test_the_key_is_what_the_test_checks_not_its_node_id():
    params = dict(target="torch", dtype="float32", mode="-", kind=None)
    here = _key(_Item("bnconform/conformance/test_properties.py::test_property[torch-conv2d-float32--]", **params))
    there = _key(_Item("test_properties.py::test_property[torch-conv2d-float32--]", **params))
    assert here == there == b"test_property|conv2d|None|torch|float32|-"
    # another dtype, another target: another stream of examples
    assert _key(_Item("x", **{**params, "dtype": "float16"})) != here
    assert _key(_Item("x", **{**params, "target": "torch-functional"})) != here
