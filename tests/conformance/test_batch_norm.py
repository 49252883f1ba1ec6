"""Batch normalization against the reference (Ioffe and Szegedy 2015, Algorithm 1 and Section 3).

Each property draws cases within what the target offers and compares every output element-wise
under the tolerance model (``bnconform.tolerance``).
"""

from __future__ import annotations

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
