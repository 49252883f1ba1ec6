"""``python -m pytest tests --bn-impl FRAMEWORK:MODULE:NAME`` accepts a correct hand-written layer and
rejects each planted bug, exactly as a user would run it (a separate pytest process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("torch")


BN_PROPERTIES = "tests/conformance/test_batch_norm.py"


def run_bn_impl(spec: str, *extra: str, path: str = "tests") -> subprocess.CompletedProcess:
    """``python -m pytest tests --bn-impl SPEC`` as a user runs it (the mutants narrow the path to the
    batch-norm properties and stop at the first failure, to keep the suite fast)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    cmd = [sys.executable, "-m", "pytest", path, "--bn-impl", spec, "-q", "-p", "no:cacheprovider",
           "--hypothesis-profile", "ci", *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_hand_written_torch_batchnorm_conforms():
    proc = run_bn_impl("torch:tests.bn_impl.torch_bn:HandBatchNorm2d")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


@pytest.mark.parametrize(
    "mutant, property_name",
    [
        ("InvertedMomentum", "bn_moving_stats"),
        ("BiasedRunningVar", "bn_moving_stats"),
        ("EpsOutsideSqrt", "bn_forward"),
        ("UpdatesInEval", "bn_inference_keeps_stats"),
    ],
)
def test_each_planted_bug_fails(mutant, property_name):
    proc = run_bn_impl(f"torch:tests.bn_impl.torch_bn:{mutant}", "-x", path=BN_PROPERTIES)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"property {property_name} " in proc.stdout, proc.stdout[-3000:]


def test_hand_written_keras_batchnormalization_conforms():
    pytest.importorskip("keras")
    proc = run_bn_impl("keras:tests.bn_impl.keras_bn:HandBatchNormalization")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


@pytest.mark.parametrize(
    "mutant, property_name",
    [
        ("InvertedMomentum", "bn_moving_stats"),
        ("UnbiasedMovingVar", "bn_moving_stats"),
        ("EpsOutsideSqrt", "bn_forward"),
        ("UpdatesInInference", "bn_inference_keeps_stats"),
    ],
)
def test_each_planted_bug_in_the_keras_copy_fails(mutant, property_name):
    pytest.importorskip("keras")
    proc = run_bn_impl(f"keras:tests.bn_impl.keras_bn:{mutant}", "-x", path=BN_PROPERTIES)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"property {property_name} " in proc.stdout, proc.stdout[-3000:]


def test_a_class_without_the_drop_in_shape_is_a_usage_error():
    proc = run_bn_impl("torch:tests.bn_impl.torch_bn:NotABatchNorm", path=BN_PROPERTIES)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "missing: constructor keyword 'eps', constructor keyword 'momentum'" in proc.stderr


@pytest.mark.parametrize(
    "spec, message",
    [
        ("torch:no_such_module_xyz:Layer", "cannot import module 'no_such_module_xyz'"),
        ("torch:tests.bn_impl.torch_bn:Missing", "has no attribute 'Missing'"),
        ("mxnet:tests.bn_impl.torch_bn:HandBatchNorm2d", "FRAMEWORK must be one of"),
        ("torch:HandBatchNorm2d", "expected FRAMEWORK:MODULE:NAME"),
        ("keras:tests.bn_impl.torch_bn:NotABatchNorm", "missing: constructor keyword 'axis'"),
    ],
)
def test_bad_specs_are_usage_errors_naming_the_problem(spec, message):
    from adapters.user_impl import UsageError, register_user_impl

    with pytest.raises(UsageError, match=message):
        register_user_impl(spec)


def _failed(proc) -> set:
    """The test ids of every FAILED line of a ``-q -rf`` run."""
    import re

    return {m.group(1) for m in re.finditer(r"^FAILED (\S+)", proc.stdout, re.M)}


def test_the_course_layer_fails_where_the_lecture_departs_from_keras():
    """The course's hand-written layer (tests/bn_impl/course_bn.py): it trains when called without
    training= and moves its moving statistics in inference; its training-mode arithmetic is right."""
    pytest.importorskip("keras")
    proc = run_bn_impl("keras:tests.bn_impl.course_bn:LectureBatchNormalization", "-rf", path="tests/conformance")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    failed = _failed(proc)
    assert any("test_bn_inference_keeps_stats[" in f and f.endswith("-inference]") for f in failed), failed
    assert any("test_declared_conventions_are_measured[" in f for f in failed), failed
    assert ("call_without_training_flag: declared 'leaves moving statistics', measured 'updates moving "
            "statistics'") in proc.stdout
    assert "default_eps: declared 0.001, measured {'eps': 1e-05" in proc.stdout
    # the arithmetic of training mode conforms: no training-mode property fails
    assert not [f for f in failed if f.endswith("-train]")], failed
    assert len(failed) == 2, failed


def test_the_corrected_course_layer_conforms():
    pytest.importorskip("keras")
    proc = run_bn_impl("keras:tests.bn_impl.course_bn:CorrectedBatchNormalization", path="tests/conformance")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
