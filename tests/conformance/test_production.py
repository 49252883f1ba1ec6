"""Every property at production size, once per dtype (``strategies.production_cases``).

The Hypothesis properties draw from short menus of small shapes; real layers run other kernels at
real sizes (blocked and parallel reductions, im2col/Winograd, blocked layouts). These tests run one
fixed production-size case per property and dtype through the same ``run_example`` -- the same
judgement, the same record, the same replay command -- so every run meets them, and a compiling
framework compiles only a few more programs. float32 and float16 (the dtype whose reductions are
furthest from float64, and the one the model's half-precision accumulation claim is about).
"""

from __future__ import annotations

import pytest

from bnconform import strategies

from .conftest import MODES, require, run_example

PRODUCTION_DTYPES = ("float32", "float16")


def _case(adapter, key: str, dtype: str):
    case = strategies.production_cases(adapter.capabilities, dtype=dtype).get(key)
    if case is None:
        pytest.skip(f"{adapter.name} offers no production-size {key} case (see strategies.production_cases)")
    return case


@pytest.mark.bnconform(property="bn_forward", op="batch_norm")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", PRODUCTION_DTYPES)
def test_bn_forward_production(target, mode, dtype, adapter, observe):
    """Forward at 16,384 values per feature (batch statistics in train, moving ones in inference)."""
    require(adapter, "batch_norm", dtype, mode)
    run_example(observe, adapter, "bn_forward", _case(adapter, "batch_norm", dtype), mode)


@pytest.mark.bnconform(property="bn_backward", op="batch_norm")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", PRODUCTION_DTYPES)
def test_bn_backward_production(target, mode, dtype, adapter, observe):
    """Backward at 16,384 values per feature."""
    require(adapter, "batch_norm", dtype, mode)
    if not adapter.capabilities.bn_backward:
        pytest.skip(f"{adapter.name} offers no gradients")
    run_example(observe, adapter, "bn_backward", _case(adapter, "batch_norm", dtype), mode)


@pytest.mark.bnconform(property="bn_moving_stats", op="batch_norm")
@pytest.mark.parametrize("dtype", PRODUCTION_DTYPES)
def test_bn_moving_stats_production(target, dtype, adapter, observe):
    """Moving statistics after one training step at 16,384 values per feature."""
    require(adapter, "batch_norm", dtype, "train")
    run_example(observe, adapter, "bn_moving_stats", _case(adapter, "batch_norm", dtype), "train")


@pytest.mark.bnconform(property="conv2d", op="conv2d")
@pytest.mark.parametrize("dtype", PRODUCTION_DTYPES)
def test_conv2d_production(target, dtype, adapter, observe):
    """256 input channels, 3 x 3 (2,304 terms per output), 64 filters, strided and dilated."""
    require(adapter, "conv2d", dtype)
    run_example(observe, adapter, "conv2d", _case(adapter, "conv2d", dtype), "-")


def _pool_kinds():
    return [pytest.param(k, marks=pytest.mark.bnconform(property="pool2d", op=f"{k}_pool2d"), id=k)
            for k in ("max", "avg", "global_avg")]


@pytest.mark.parametrize("kind", _pool_kinds())
@pytest.mark.parametrize("dtype", PRODUCTION_DTYPES)
def test_pool2d_production(target, kind, dtype, adapter, observe):
    """Max and average pooling 3 x 3, stride 2, and global average over 32 x 32, of (8, 32, 32, 64)."""
    require(adapter, "pool2d", dtype)
    if kind not in adapter.capabilities.pool_kinds:
        pytest.skip(f"{adapter.name} does not offer {kind} pooling")
    run_example(observe, adapter, "pool2d", _case(adapter, kind, dtype), "-")
