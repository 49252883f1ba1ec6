"""Batch normalization against the reference (Ioffe and Szegedy 2015, Algorithm 1 and Section 3).

Each property draws cases within what the target offers and compares every output element-wise
under the tolerance model (``bnconform.tolerance``).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnconform import strategies

from .conftest import MODES, require, run_example


@pytest.mark.bnconform(property="bn_forward", op="batch_norm")
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data())
def test_bn_forward(target, mode, dtype, adapter, observe, data):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta with batch (train) or moving (inference) statistics."""
    require(adapter, "batch_norm", dtype, mode)
    case = data.draw(strategies.bn_cases(adapter.capabilities, dtype=dtype), label="case")
    run_example(observe, adapter, "bn_forward", case, mode)


@pytest.mark.bnconform(property="bn_forward_adversarial", op="batch_norm")
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data())
def test_bn_forward_adversarial(target, mode, dtype, adapter, observe, data):
    """The forward pass stays within the conditioning-aware bound on ill-conditioned batches: a large
    offset relative to the spread, a constant feature, a variance near eps, one value per feature."""
    require(adapter, "batch_norm", dtype, mode)
    case = data.draw(strategies.bn_cases(adapter.capabilities, dtype=dtype, adversarial=True), label="case")
    run_example(observe, adapter, "bn_forward_adversarial", case, mode)


@pytest.mark.bnconform(property="bn_backward", op="batch_norm")
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data())
def test_bn_backward(target, mode, dtype, adapter, observe, data):
    """dx, dgamma, dbeta of sum(y * dy) equal the closed-form backward pass (not finite differences)."""
    require(adapter, "batch_norm", dtype, mode)
    if not adapter.capabilities.bn_backward:
        pytest.skip(f"{adapter.name} offers no gradients")
    case = data.draw(strategies.bn_cases(adapter.capabilities, dtype=dtype), label="case")
    run_example(observe, adapter, "bn_backward", case, mode)


@pytest.mark.bnconform(property="bn_moving_stats", op="batch_norm")
@pytest.mark.parametrize("mode", ["train"])
@given(data=st.data())
def test_bn_moving_stats(target, mode, dtype, adapter, observe, data):
    """After k training calls the moving statistics follow the framework's EMA convention exactly
    (random momentum, eps, gamma, beta; momentum=None where the framework offers it)."""
    require(adapter, "batch_norm", dtype, mode)
    case = data.draw(
        strategies.bn_cases(
            adapter.capabilities,
            dtype=dtype,
            max_steps=4,
            momentum_none=adapter.conventions.momentum_none,
        ),
        label="case",
    )
    run_example(observe, adapter, "bn_moving_stats", case, mode)


@pytest.mark.bnconform(property="bn_inference_keeps_stats", op="batch_norm")
@pytest.mark.parametrize("mode", ["inference"])
@given(data=st.data())
def test_bn_inference_keeps_stats(target, mode, dtype, adapter, observe, data):
    """An inference-mode call leaves the moving statistics bit-for-bit unchanged."""
    require(adapter, "batch_norm", dtype, mode)
    case = data.draw(strategies.bn_cases(adapter.capabilities, dtype=dtype), label="case")
    run_example(observe, adapter, "bn_inference_keeps_stats", case, mode)


@st.composite
def call_sequences(draw, adapter) -> tuple[str, ...]:
    """Two to five calls on one layer, at least one training call and one other: training, inference
    and, where the framework declares a call without a training flag to be inference (Keras), that
    call. Shrinks towards train, inference, train."""
    calls = ("train", "inference") + (("no-flag",) if adapter.conventions.call_without_flag == "inference" else ())
    mixed = st.lists(st.sampled_from(calls), min_size=2, max_size=5).map(tuple).filter(
        lambda seq: "train" in seq and any(c != "train" for c in seq))
    return draw(st.one_of(st.just(("train", "inference", "train")), mixed))


@pytest.mark.bnconform(property="bn_call_sequence", op="batch_norm")
@pytest.mark.parametrize("mode", ["-"])
@given(data=st.data())
def test_bn_call_sequence(target, mode, dtype, adapter, observe, data):
    """One layer through a sequence of training, inference and (Keras) flagless calls: after each call
    the output and the moving statistics are the reference's; inference calls leave the statistics
    bit for bit, and momentum=None averages over the training calls only."""
    require(adapter, "batch_norm", dtype)
    calls = data.draw(call_sequences(adapter), label="calls")
    case = data.draw(
        strategies.bn_cases(adapter.capabilities, dtype=dtype, momentum_none=adapter.conventions.momentum_none),
        label="case",
    )
    case = dataclasses.replace(case, steps=len(calls))  # one batch per call
    run_example(observe, adapter, "bn_call_sequence", case, ",".join(calls))
