"""A planted bug on a path that has a known deviation is a NEW FAILURE, while the unplanted framework
shows only its known deviations: the conformance suite in a separate pytest process, with the bug
planted by wrapping a real framework function (``-p tests.models.planted_*``).

Issue 9 measured the old whole-test entries hiding exactly these: Keras 3.15.1 on the torch backend
with its float32 batch variance scaled by 1.01 was reported as known-deviation on bn_forward,
bn_backward, bn_forward_adversarial and bn_moving_stats in training mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_conformance(tmp_path, target: str, select: str, *extra: str, env: dict | None = None) -> dict:
    """``python -m pytest bnconform/conformance --target TARGET -k SELECT`` (ci profile) -> {test id: record}."""
    out = tmp_path / "results"
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    environ.update(env or {})
    cmd = [sys.executable, "-m", "pytest", "bnconform/conformance", "--target", target, "-k", select, "-q",
           "-p", "no:cacheprovider", "--hypothesis-profile", "ci", "--results", str(out), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=900)
    assert (out / "results.json").is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    records = json.loads((out / "results.json").read_text())["records"]
    return {r["id"].split("::")[1]: r for r in records}, proc


KERAS_TORCH_TRAIN_FLOAT32 = ("float32 and train and (bn_forward or bn_backward or bn_moving_stats)"
                             " and not production"
                             " and not adversarial")
KERAS_TORCH_IDS = ("test_property[keras-torch-bn_forward-float32-train]",
                   "test_property[keras-torch-bn_backward-float32-train]",
                   "test_property[keras-torch-bn_moving_stats-float32-train]")


@pytest.fixture(scope="module")
def keras_torch():
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    return {"KERAS_BACKEND": "torch"}


def test_keras_torch_unplanted_shows_only_known_deviations(tmp_path, keras_torch):
    records, proc = run_conformance(tmp_path, "keras-torch", KERAS_TORCH_TRAIN_FLOAT32, env=keras_torch)
    assert sorted(records) == sorted(KERAS_TORCH_IDS), proc.stdout[-2000:]
    verdicts = {name: r["verdict"] for name, r in records.items()}
    assert set(verdicts.values()) <= {"pass", "known-deviation"}, proc.stdout[-3000:]


def test_a_planted_1pct_keras_torch_variance_is_a_new_failure(tmp_path, keras_torch):
    records, proc = run_conformance(tmp_path, "keras-torch", KERAS_TORCH_TRAIN_FLOAT32,
                                    "-p", "tests.models.planted_keras_torch_variance", env=keras_torch)
    assert {name: r["verdict"] for name, r in records.items()} == {name: "fail" for name in KERAS_TORCH_IDS}, \
        proc.stdout[-3000:]
    for record in records.values():
        # the entry matched the test, was tried, and did not explain the example
        assert "keras-torch-one-pass-variance = one_pass_variance(clamped=false): does not explain this example" in record["message"]
        assert "NEW FAILURE" in record["message"]
    assert proc.returncode == 1


def test_a_planted_1pct_variance_is_a_new_failure_on_adversarial_data_too(tmp_path, keras_torch):
    """The adversarial property draws ill-conditioned batches, where the one-pass model allows a large
    error; the planted bug is still found on the batches where the model is tight."""
    records, proc = run_conformance(tmp_path, "keras-torch", "float32 and train and adversarial",
                                    "-p", "tests.models.planted_keras_torch_variance", env=keras_torch)
    (record,) = records.values()
    assert record["verdict"] == "fail", proc.stdout[-3000:]


def test_a_planted_torch_lp_pool_scaling_is_a_new_failure(tmp_path):
    pytest.importorskip("torch")
    select = "pool2d_lp_odd_p and float32"
    records, proc = run_conformance(tmp_path, "torch", select)
    assert [r["verdict"] for r in records.values()] == ["known-deviation"], proc.stdout[-3000:]
    records, proc = run_conformance(tmp_path, "torch", select, "-p", "tests.models.planted_torch_lp_pool")
    (record,) = records.values()
    assert record["verdict"] == "fail", proc.stdout[-3000:]
    assert "torch-lp-pool-signed = lp_pool_signed(powers_in_dtype=true): does not explain this example" in record["message"]


FLAX_FORWARD_FLOAT32 = "float32 and train and bn_forward and not production and not adversarial"


def test_a_planted_flax_use_scale_false_path_without_epsilon_is_caught_on_that_option_only(tmp_path):
    """Flax's constructor options are drawn (``use_scale``, ``use_bias``): a bug on the
    ``use_scale=False`` path alone fails, with a minimal example that has the option off, while the
    unplanted layer passes the same draws."""
    pytest.importorskip("flax")
    records, proc = run_conformance(tmp_path, "flax-linen", FLAX_FORWARD_FLOAT32)
    (unplanted,) = records.values()  # flax's one-pass variance (a known deviation) may show
    assert unplanted["verdict"] in ("pass", "known-deviation"), proc.stdout[-3000:]
    records, proc = run_conformance(tmp_path, "flax-linen", FLAX_FORWARD_FLOAT32,
                                    "-p", "tests.models.planted_flax_use_scale")
    (record,) = records.values()
    assert record["verdict"] == "fail", proc.stdout[-3000:]
    assert record["example"]["scale"] is False, record["example"]  # the option that has the bug
    assert "flax-one-pass-variance = one_pass_variance(): does not explain this example" in record["message"]
