"""2-D convolution and pooling against the reference."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnconform import strategies

from .conftest import require, run_example


def _kinds(prop: str, kinds) -> list:
    return [pytest.param(k, marks=pytest.mark.bnconform(property=prop, op=f"{k}_pool2d"), id=k) for k in kinds]


@pytest.mark.bnconform(property="conv2d", op="conv2d")
@pytest.mark.parametrize("mode", ["-"])
@given(data=st.data())
def test_conv2d(target, mode, dtype, adapter, observe, data):
    """Cross-correlation for every padding mode, stride, dilation, groups and layout offered."""
    require(adapter, "conv2d", dtype)
    case = data.draw(strategies.conv_cases(adapter.capabilities, dtype=dtype), label="case")
    run_example(observe, adapter, "conv2d", case, mode)


def _require_kind(adapter, kind: str, dtype: str) -> None:
    require(adapter, "pool2d", dtype)
    if kind not in adapter.capabilities.pool_kinds:
        pytest.skip(f"{adapter.name} does not offer {kind} pooling")


def _pool_property(observe, adapter, data, prop: str, kind: str, dtype: str, **strategy_kwargs) -> None:
    _require_kind(adapter, kind, dtype)
    case = data.draw(
        strategies.pool_cases(adapter.capabilities, kind=kind, dtype=dtype, **strategy_kwargs), label="case"
    )
    run_example(observe, adapter, prop, case, "-")


@pytest.mark.parametrize("kind", _kinds("pool2d", ("max", "avg", "global_avg")))
@pytest.mark.parametrize("mode", ["-"])
@given(data=st.data())
def test_pool2d(target, kind, mode, dtype, adapter, observe, data):
    """Max (padding is -inf), average (padding counted or not) and global average; ceil_mode."""
    _pool_property(observe, adapter, data, "pool2d", kind, dtype)


@pytest.mark.parametrize("kind", _kinds("pool2d", ("lp",)))
@pytest.mark.parametrize("mode", ["-"])
@given(data=st.data())
def test_lp_pool2d(target, kind, mode, dtype, adapter, observe, data):
    """Lp-norm pooling with p = 2, (sum x^2)^(1/2) (the L2 pooling of the course slides), floor mode."""
    _pool_property(observe, adapter, data, "pool2d", kind, dtype, lp_p=(2.0,), ceil_mode=False)


@pytest.mark.parametrize("kind", _kinds("pool2d_lp_odd_p", ("lp",)))
@pytest.mark.parametrize("mode", ["-"])
@given(data=st.data())
def test_lp_pool2d_odd_p(target, kind, mode, dtype, adapter, observe, data):
    """Lp-norm pooling with odd p on signed inputs: the norm takes |x|^p, so the sign of x is lost."""
    _require_kind(adapter, kind, dtype)
    odd = tuple(p for p in adapter.capabilities.pool_lp_p if p % 2 == 1)
    if not odd:
        pytest.skip(f"{adapter.name} offers no odd p for Lp pooling")
    _pool_property(observe, adapter, data, "pool2d_lp_odd_p", kind, dtype, lp_p=odd, ceil_mode=False)


@pytest.mark.parametrize("kind", _kinds("pool2d_lp_ceil_mode", ("lp",)))
@pytest.mark.parametrize("mode", ["-"])
@given(data=st.data())
def test_lp_pool2d_ceil_mode(target, kind, mode, dtype, adapter, observe, data):
    """Lp-norm pooling in ceil mode: a window cut short by the border sums only what it covers."""
    _require_kind(adapter, kind, dtype)
    if not adapter.capabilities.pool_ceil_mode:
        pytest.skip(f"{adapter.name} offers no ceil_mode")
    _pool_property(observe, adapter, data, "pool2d_lp_ceil_mode", kind, dtype, lp_p=(2.0,), ceil_mode=True)


@pytest.mark.parametrize("kind", _kinds("pool2d_nonfinite", ("max", "avg")))
@pytest.mark.parametrize("mode", ["-"])
@given(data=st.data())
def test_pool2d_nonfinite(target, kind, mode, dtype, adapter, observe, data):
    """NaN propagates through max and average pooling; infinities come out where the reference has them."""
    _pool_property(observe, adapter, data, "pool2d_nonfinite", kind, dtype, specials=True)
