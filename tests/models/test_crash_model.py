"""The crash model ``masked_one_feature_crash`` (keras 3.15.1's masked batch norm with one feature):
what it predicts, from the mechanism (``ops.squeeze`` of the keepdims moments leaves shape () only
for C = 1, only a training call takes the masked moments, the tensorflow backend reshapes only for a
non-negative axis), and -- where Keras is installed -- that the prediction is what the real layer does
through bnconform's adapters (each backend in its own interpreter: Keras fixes its backend at import)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnconform import cases as C
from bnconform import masked_checks, models
from bnconform.checks import BN_FORWARD

ROOT = Path(__file__).resolve().parents[2]
NAME = "masked_one_feature_crash"


def case(shape, axis=-1, mask=True, steps=1):
    return C.BNCase(shape=shape, axis=axis, dtype="float32", eps=1e-3, momentum=0.9, steps=steps,
                    x=C.Values(seed=3, loc=0.5, scale=1.5), params_seed=4,
                    mask=tuple(s for i, s in enumerate(shape) if i != len(shape) - 1) if mask else None)


def judged(c, mode, exc, **params):
    return models.judge_crash(NAME, params, masked_checks.BN_MASKED, c, mode, exc)


INDEX = IndexError("tuple index out of range")


@pytest.mark.parametrize("shape", [(5, 1), (4, 3, 1), (3, 2, 2, 1)])
def test_one_feature_with_a_mask_in_training_is_predicted_to_raise_index_error(shape):
    explained, words = judged(case(shape), "train", INDEX)
    assert explained, words


@pytest.mark.parametrize("c, mode, why", [
    (case((5, 2)), "train", "C = 2"),  # the feature axis survives the squeeze
    (case((4, 3, 3)), "train", "C = 3"),
    (case((5, 1)), "inference", "mode inference"),  # the moving statistics, shape (1,)
    (case((5, 1), steps=2), "inference", "mode inference"),  # an inference example runs one batch
    (case((5, 1), mask=False), "train", "no mask"),
])
def test_no_crash_is_predicted_where_the_statistics_keep_their_axis(c, mode, why):
    explained, words = judged(c, mode, INDEX)
    assert not explained and "predicts no crash" in words and why in words


def test_the_tensorflow_spelling_raises_only_for_a_non_negative_axis():
    assert not judged(case((5, 1), axis=-1), "train", INDEX, any_axis_spelling=False)[0]
    assert judged(case((5, 1), axis=1), "train", INDEX, any_axis_spelling=False)[0]


@pytest.mark.parametrize("exc, why", [
    (ValueError("tuple index out of range"), "predicts IndexError"),  # another type
    (IndexError("list index out of range"), "with a message matching"),  # another message
    (IndexError(""), "with a message matching"),
])
def test_another_exception_on_a_predicted_case_is_not_explained(exc, why):
    explained, words = judged(case((5, 1)), "train", exc)
    assert not explained and why in words


def test_the_keras_wrapped_message_is_explained():
    """Keras's eager call wraps the backend's message (measured on the torch backend)."""
    wrapped = IndexError("Exception encountered when calling BatchNormalization.call().\n\n\x1b[1mtuple index "
                         "out of range\x1b[0m\n\nArguments received by BatchNormalization.call(): ...")
    assert judged(case((5, 1)), "train", wrapped)[0]


def test_a_crash_model_judges_no_outputs_and_an_output_model_no_crash():
    with pytest.raises(models.NotModelled, match="crash model"):
        models.judge(NAME, {}, type("E", (), {"check": masked_checks.BN_MASKED, "prop": "bn_masked"})())
    with pytest.raises(models.NotModelled, match="models outputs, not an exception"):
        models.judge_crash("mask_ignored", {}, masked_checks.BN_MASKED, case((5, 1)), "train", INDEX)
    with pytest.raises(models.NotModelled, match="not bn_forward"):
        models.judge_crash(NAME, {}, BN_FORWARD, case((5, 1)), "train", INDEX)


_MEASURE = r"""
import json, sys
from bnconform import adapters, checks, masked_checks, models
from bnconform import cases as C
adapter = adapters.load(sys.argv[1])
for shape, mode in json.loads(sys.argv[2]):
    case = C.BNCase(shape=tuple(shape), axis=-1, dtype="float32", eps=1e-3, momentum=0.9, steps=2,
                    x=C.Values(seed=3, loc=0.5, scale=1.5), params_seed=4, mask=tuple(shape[:-1]))
    raised = explained = None
    try:
        checks.run("bn_masked", adapter, case, mode)
    except Exception as exc:
        raised = type(exc).__name__
        explained = models.judge_crash("masked_one_feature_crash", {}, masked_checks.BN_MASKED, case, mode, exc)[0]
    predicted = models.get("masked_one_feature_crash").predict(case, mode, any_axis_spelling=True).exception
    print(json.dumps({"shape": shape, "mode": mode, "raised": raised, "predicted": predicted, "explained": explained}))
"""

CASES = [((5, 1), "train"), ((4, 3, 1), "train"), ((2, 2, 2, 1), "train"), ((5, 2), "train"),
         ((4, 3, 2), "train"), ((5, 1), "inference"), ((4, 3, 1), "inference")]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_prediction_is_what_the_real_layer_does(backend):
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec(backend) is None:
        pytest.skip(f"keras with the {backend} backend is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", _MEASURE, f"keras-{backend}", json.dumps(CASES)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == len(CASES)
    for row in rows:
        assert row["raised"] == row["predicted"], row  # a crash exactly where predicted, none elsewhere
        assert row["explained"] in (None, True), row  # and each one the model's type and message
    assert sum(row["raised"] is not None for row in rows) == 3  # the three C = 1 cases in train
