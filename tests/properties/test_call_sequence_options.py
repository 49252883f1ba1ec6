"""The call sequence's drawn options: a frozen layer (``trainable=False``) is drawn where the adapter
offers it, a layer without running statistics never (the sequence checks the moving statistics the
layer holds); and the check expects a frozen layer's every call to use, and leave, its moving
statistics."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
from hypothesis import HealthCheck, given, settings

from bnconform import cases as C
from bnconform import checks, properties
from bnconform.adapters.keras_adapter import CAPABILITIES as KERAS
from bnconform.adapters.keras_adapter import CONVENTIONS as KERAS_CONVENTIONS
from bnconform.adapters.torch_adapter import CAPABILITIES as TORCH

ROW = properties.get("bn_call_sequence")


def drawn_flags(caps, n: int = 120) -> list[dict]:
    adapter = SimpleNamespace(capabilities=caps, conventions=KERAS_CONVENTIONS)
    seen: list[dict] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(ROW.cases(adapter, "float32"))
    def collect(case):
        seen.append(case.flags())

    collect()
    return seen


def test_a_frozen_layer_is_drawn_where_offered_and_running_statistics_always():
    keras = drawn_flags(KERAS)
    assert any(f.get("trainable") is False for f in keras) and any("trainable" not in f for f in keras)
    assert not any("track_running_stats" in f for f in keras + drawn_flags(TORCH))
    assert not any("trainable" in f for f in drawn_flags(TORCH))  # torch has no such option


def test_every_call_of_a_frozen_layer_uses_and_keeps_the_moving_statistics():
    """Hand-made sequence train, inference, train on a frozen layer: y = (x - 1) / sqrt(4 + eps) with
    the held moving statistics (mean 1, variance 4) after every call, which stay as they were; a layer
    that trained on its first call (batch statistics, moved mean) fails."""
    eps = 1e-3
    x = np.array([[0.0], [2.0], [4.0], [6.0]])
    case = C.BNCase(shape=(4, 1), axis=-1, dtype="float64", eps=eps, momentum=0.9, steps=3, trainable=False,
                    x=C.Values(seed=0))
    inputs = C.BNInputs((x, x, x), np.ones(1), np.zeros(1), np.ones(1), np.full(1, 4.0), np.zeros_like(x))
    y = (x - 1.0) / np.sqrt(4.0 + eps)
    calls = ("train", "inference", "train")
    frozen = {f"{name}@{i}": value for i in (1, 2, 3)
              for name, value in (("y", y), ("moving_mean", np.ones(1)), ("moving_var", np.full(1, 4.0)))}
    ex = checks.Example("bn_call_sequence", case, inputs, ",".join(calls), frozen,
                        extra={"calls": calls, "flagless": "inference"}, convention="keras")
    assert all(c.ok for c in checks.judge(ex))
    batch = (x - 3.0) / np.sqrt(5.0 + eps)  # the batch's statistics: mean 3, variance 5
    trained = dict(frozen, **{"y@1": batch, "moving_mean@1": np.full(1, 0.9 * 1.0 + 0.1 * 3.0)})
    bad = dataclasses.replace(ex, outputs=trained)
    assert [c.name for c in checks.judge(bad) if not c.ok][:2] == ["y after call 1 (train)",
                                                                   "moving_mean after call 1 (train)"]
