"""How ``python -m pytest`` spreads the tests over the CPUs (the root ``conftest.py``, pytest-xdist): the
work units keep what must run once together, every named unit exists, and a pytest process that a
test starts runs in one process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TARGETS = ["torch", "torch-functional", "keras-tensorflow", "keras-jax", "tf_keras"]


def _root_conftest():
    spec = importlib.util.spec_from_file_location("_bnconform_root_conftest", REPO / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_work_units_keep_files_together_with_their_refinements():
    unit = _root_conftest().work_unit
    # a file's tests together: its module fixtures and the session fixture only it uses run once
    assert unit("tests/cifar/test_quick.py::test_profile_passes_the_gate[torch-A-BN]", TARGETS) == \
        "tests/cifar/test_quick.py"
    assert unit("tests/blobs/test_ci.py::test_x[keras-jax-s0]", TARGETS) == "tests/blobs/test_ci.py"
    # the planted-bug matrix: one unit per framework (its module fixture's parameter)
    assert unit("tests/cli/test_bn_impl_variants.py::test_every_honest_variant_conforms_in_every_dtype[keras]",
                TARGETS) == "tests/cli/test_bn_impl_variants.py[keras]"
    # independent tests, one unit each
    node = "tests/cli/test_bn_impl.py::test_each_planted_bug_fails[EpsOutsideSqrt-bn_forward]"
    assert unit(node, TARGETS) == node
    # the conformance suite: one unit per target, the longest name that matches
    assert unit("bnconform/conformance/test_properties.py::test_property[torch-functional-bn_forward-float32-train]",
                TARGETS) == "bnconform/conformance[torch-functional]"
    assert unit("bnconform/conformance/test_fingerprint.py::test_fresh_layer_state[torch-float32--]", TARGETS) == \
        "bnconform/conformance[torch]"


def test_every_named_work_unit_exists():
    conftest = _root_conftest()
    for name in (*conftest.HEAVY, *conftest.SPLIT):
        assert (REPO / name.split("[", 1)[0]).is_file(), name


def test_a_pytest_started_by_a_test_runs_in_one_process():
    """The ``--bn-impl`` and planted-bug runs are pytest processes started from the repository root:
    they read pyproject.toml and the root conftest.py, and must not start workers of their own."""
    if importlib.util.find_spec("xdist") is None:
        pytest.skip("pytest-xdist is not installed")
    env = dict(os.environ, PYTEST_CURRENT_TEST="tests/meta/test_parallel.py::x (call)")
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/meta/test_parallel.py", "-k", "named_work_unit",
                           "-p", "no:cacheprovider"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout and "workers" not in proc.stdout, proc.stdout[-3000:]


def test_the_heaviest_work_units_are_handed_out_first_then_the_others_in_order():
    conftest = _root_conftest()
    queue = conftest.HeaviestFirst()
    for unit in ("tests/reports/test_gate.py", "tests/cli/test_bn_impl.py::test_a", "bnconform/conformance[torch]",
                 "tests/cifar/test_quick.py", "tests/cli/test_bn_impl.py::test_b", "tests/meta/test_parallel.py"):
        queue[unit] = {}
    order = [queue.popitem(last=False)[0] for _ in range(len(queue))]
    assert order == ["tests/cifar/test_quick.py", "tests/cli/test_bn_impl.py::test_a", "tests/cli/test_bn_impl.py::test_b",
                     "tests/reports/test_gate.py", "bnconform/conformance[torch]", "tests/meta/test_parallel.py"]


def test_the_root_conftest_loads_where_xdist_is_not_installed():
    """The tox environments install no xdist and run the conformance suite under this conftest:
    its xdist hook must be optional there (``-p no:xdist`` stands in for an environment without it)."""
    env = dict(os.environ, PYTEST_CURRENT_TEST="tests/meta/test_parallel.py::x (call)")
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/meta/test_parallel.py", "-k", "named_work_unit",
                           "-p", "no:xdist", "-p", "no:cacheprovider"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout, proc.stdout[-3000:]


def test_torch_imports_in_a_worker_after_pytester_runs():
    """A worker that ran pytester's in-process runs (whose fake suites make the results plugin import
    torch) can still import torch: the root conftest imports it before each pytester test, else
    pytester's restored ``sys.modules`` drops it and the next ``import torch`` fails with
    ``SystemError`` (see ``pytest_runtest_setup`` there; without it this test fails)."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n0", "-q", "-p", "no:cacheprovider",
                           "tests/reports/test_plugin.py", "tests/meta/data/torch_after_pytester.py"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
