"""2-D convolution and pooling against the reference. Modes, dtypes, kinds and strategies: the
property's row in ``bnconform.properties``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from .conftest import check_drawn, conformance


@conformance("conv2d")
@given(data=st.data())
def test_conv2d(target, mode, dtype, adapter, observe, prop, data):
    """Cross-correlation for every padding mode, stride, dilation, groups and layout offered."""
    check_drawn(prop, observe, adapter, data, dtype, mode)


@conformance("pool2d", kinds=("max", "avg", "global_avg"))
@given(data=st.data())
def test_pool2d(target, kind, mode, dtype, adapter, observe, prop, data):
    """Max (padding is -inf), average (padding counted or not) and global average; ceil_mode."""
    check_drawn(prop, observe, adapter, data, dtype, mode, kind)


@conformance("pool2d", kinds=("lp",))
@given(data=st.data())
def test_lp_pool2d(target, kind, mode, dtype, adapter, observe, prop, data):
    """Lp-norm pooling with p = 2, (sum x^2)^(1/2) (the L2 pooling of the course slides), floor mode."""
    check_drawn(prop, observe, adapter, data, dtype, mode, kind)


@conformance("pool2d_lp_odd_p")
@given(data=st.data())
def test_lp_pool2d_odd_p(target, kind, mode, dtype, adapter, observe, prop, data):
    """Lp-norm pooling with odd p on signed inputs: the norm takes |x|^p, so the sign of x is lost."""
    check_drawn(prop, observe, adapter, data, dtype, mode, kind)


@conformance("pool2d_lp_ceil_mode")
@given(data=st.data())
def test_lp_pool2d_ceil_mode(target, kind, mode, dtype, adapter, observe, prop, data):
    """Lp-norm pooling in ceil mode: a window cut short by the border sums only what it covers."""
    check_drawn(prop, observe, adapter, data, dtype, mode, kind)


@conformance("pool2d_nonfinite")
@given(data=st.data())
def test_pool2d_nonfinite(target, kind, mode, dtype, adapter, observe, prop, data):
    """NaN propagates through max and average pooling; infinities come out where the reference has them."""
    check_drawn(prop, observe, adapter, data, dtype, mode, kind)
