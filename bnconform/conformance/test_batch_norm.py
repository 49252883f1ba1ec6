"""Batch normalization against the reference (Ioffe and Szegedy 2015, Algorithm 1 and Section 3).

Each property draws cases within what the target offers and compares every output element-wise
under the tolerance model (``bnconform.tolerance``). Modes, dtypes and strategies: the property's
row in ``bnconform.properties``.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from .conftest import check_drawn, conformance, require_property, run_example


@conformance("bn_forward")
@given(data=st.data())
def test_bn_forward(target, mode, dtype, adapter, observe, prop, data):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta with batch (train) or moving (inference) statistics."""
    check_drawn(prop, observe, adapter, data, dtype, mode)


@conformance("bn_forward_adversarial")
@given(data=st.data())
def test_bn_forward_adversarial(target, mode, dtype, adapter, observe, prop, data):
    """The forward pass stays within the conditioning-aware bound on ill-conditioned batches: a large
    offset relative to the spread, a constant feature, a variance near eps, one value per feature."""
    check_drawn(prop, observe, adapter, data, dtype, mode)


@conformance("bn_backward")
@given(data=st.data())
def test_bn_backward(target, mode, dtype, adapter, observe, prop, data):
    """dx, dgamma, dbeta of sum(y * dy) equal the closed-form backward pass (not finite differences)."""
    check_drawn(prop, observe, adapter, data, dtype, mode)


@conformance("bn_moving_stats")
@given(data=st.data())
def test_bn_moving_stats(target, mode, dtype, adapter, observe, prop, data):
    """After k training calls the moving statistics follow the framework's EMA convention exactly
    (random momentum, eps, gamma, beta; momentum=None where the framework offers it)."""
    check_drawn(prop, observe, adapter, data, dtype, mode)


@conformance("bn_inference_keeps_stats")
@given(data=st.data())
def test_bn_inference_keeps_stats(target, mode, dtype, adapter, observe, prop, data):
    """An inference-mode call leaves the moving statistics bit-for-bit unchanged."""
    check_drawn(prop, observe, adapter, data, dtype, mode)


@st.composite
def call_sequences(draw, adapter) -> tuple[str, ...]:
    """Two to five calls on one layer, at least one training call and one other: training, inference
    and, where the framework declares a call without a training flag to be inference (Keras), that
    call. Shrinks towards train, inference, train."""
    calls = ("train", "inference") + (("no-flag",) if adapter.conventions.call_without_flag == "inference" else ())
    mixed = st.lists(st.sampled_from(calls), min_size=2, max_size=5).map(tuple).filter(
        lambda seq: "train" in seq and any(c != "train" for c in seq))
    return draw(st.one_of(st.just(("train", "inference", "train")), mixed))


@conformance("bn_call_sequence")
@given(data=st.data())
def test_bn_call_sequence(target, mode, dtype, adapter, observe, prop, data):
    """One layer through a sequence of training, inference and (Keras) flagless calls: after each call
    the output and the moving statistics are the reference's; inference calls leave the statistics
    bit for bit, and momentum=None averages over the training calls only. The record's mode is
    ``-``; the example's is the sequence (``train,inference,train``)."""
    require_property(adapter, prop, dtype, mode)
    calls = data.draw(call_sequences(adapter), label="calls")
    case = data.draw(prop.cases(adapter, dtype), label="case")
    case = dataclasses.replace(case, steps=len(calls))  # one batch per call
    run_example(observe, adapter, prop.name, case, ",".join(calls))
