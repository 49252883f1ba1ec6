"""Every property at production size, once per dtype (``strategies.production_cases``).

The Hypothesis properties draw from short menus of small shapes; real layers run other kernels at
real sizes (blocked and parallel reductions, im2col/Winograd, blocked layouts). These tests run one
fixed production-size case per property and dtype through the same ``run_example`` -- the same
judgement, the same record, the same replay command -- so every run meets them, and a compiling
framework compiles only a few more programs. The dtypes are ``properties.PRODUCTION_DTYPES``
(float32, float16 and bfloat16); the rows with ``production=True`` run here.
"""

from __future__ import annotations

import pytest

from bnconform import strategies
from bnconform.properties import PRODUCTION_DTYPES

from .conftest import conformance, require_property, run_example


def _case(adapter, key: str, dtype: str):
    case = strategies.production_cases(adapter.capabilities, dtype=dtype).get(key)
    if case is None:
        pytest.skip(f"{adapter.name} offers no production-size {key} case (see strategies.production_cases)")
    return case


def _production(prop, observe, adapter, dtype: str, mode: str, kind: str | None = None) -> None:
    require_property(adapter, prop, dtype, mode, kind)
    run_example(observe, adapter, prop.name, _case(adapter, kind or prop.op, dtype), mode)


@conformance("bn_forward", dtypes=PRODUCTION_DTYPES)
def test_bn_forward_production(target, mode, dtype, adapter, observe, prop):
    """Forward at 16,384 values per feature (batch statistics in train, moving ones in inference)."""
    _production(prop, observe, adapter, dtype, mode)


@conformance("bn_backward", dtypes=PRODUCTION_DTYPES)
def test_bn_backward_production(target, mode, dtype, adapter, observe, prop):
    """Backward at 16,384 values per feature."""
    _production(prop, observe, adapter, dtype, mode)


@conformance("bn_moving_stats", dtypes=PRODUCTION_DTYPES)
def test_bn_moving_stats_production(target, dtype, adapter, observe, prop):
    """Moving statistics after one training step at 16,384 values per feature (recorded with mode
    ``-``, as before the table)."""
    _production(prop, observe, adapter, dtype, "train")


@conformance("conv2d", dtypes=PRODUCTION_DTYPES)
def test_conv2d_production(target, dtype, adapter, observe, prop):
    """256 input channels, 3 x 3 (2,304 terms per output), 64 filters, strided and dilated."""
    _production(prop, observe, adapter, dtype, "-")


@conformance("pool2d", kinds=("max", "avg", "global_avg"), dtypes=PRODUCTION_DTYPES)
def test_pool2d_production(target, kind, dtype, adapter, observe, prop):
    """Max and average pooling 3 x 3, stride 2, and global average over 32 x 32, of (8, 32, 32, 64)."""
    _production(prop, observe, adapter, dtype, "-", kind)
