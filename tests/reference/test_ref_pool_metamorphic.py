"""2-D pooling: metamorphic relations between the pooling ops, and with convolution.

- on every window, min <= average <= max, with min = -max_pool(-x) and the average not counting padding
  (padding is -inf for max, so max and min are over the data taps, and so is the average);
- pooling a constant c gives c (max exactly; average, not counting padding, up to rounding; global
  average too); Lp pooling of c over full windows gives (kh kw)^(1/p) |c|;
- average pooling with zero padding counted (or none; 'same' included) is the depthwise convolution with
  the uniform kernel 1 / (kh kw), groups = C;
- L1 pooling ('valid') is kh kw times the average of |x|;
- global average pooling is average pooling with one window the size of the image.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import gen64
from bnconform import reference as ref
import tol64


def _spatial(x, data_format):
    return x.shape[1:3] if data_format == "channels_last" else x.shape[2:4]


@st.composite
def sandwich_cases(draw):
    case = draw(gen64.pool_cases(kinds=("avg",), specials=False, half_padding=True))
    return gen64.PoolCase(case.x, "avg", case.window, case.stride, (1, 1), case.padding, case.ceil_mode,
                          False, None, case.data_format)  # the average does not count padding


def check_min_avg_max(case: gen64.PoolCase) -> None:
    """min_W x <= mean_W x <= max_W x on each window W (data taps only)."""
    common = dict(padding=case.padding, ceil_mode=case.ceil_mode, data_format=case.data_format)
    hi = ref.max_pool2d(case.x, case.window, case.stride, **common)
    lo = -ref.max_pool2d(-case.x, case.window, case.stride, **common)
    avg = ref.avg_pool2d(case.x, case.window, case.stride, count_include_pad=False, **common)
    tol = tol64.avg_pool(case.x, case.window, case.stride, **common)
    assert np.all(avg <= hi + tol), f"average above the max by {np.max(avg - hi)}"
    assert np.all(avg >= lo - tol), f"average below the min by {np.max(lo - avg)}"


@st.composite
def constant_cases(draw):
    case = draw(gen64.pool_cases(kinds=("max",), specials=False, half_padding=True))
    c = draw(st.sampled_from([-3.5, 0.0, 1e3, 0.1, -1e-3, 7.0]))
    p = draw(st.sampled_from([1.0, 2.0, 3.0, 0.5]))
    x = np.full(case.x.shape, c)
    # a dilated window over padding can straddle the data and see only padding: dilate 'valid' only
    dilation = case.dilation if case.padding == "valid" else (1, 1)
    return gen64.PoolCase(x, case.kind, case.window, case.stride, dilation, case.padding, case.ceil_mode,
                          False, p, case.data_format), c


def check_constant(case_c) -> None:
    """Max and average (padding not counted) of a constant are the constant; the global average is the
    constant; Lp over full ('valid') windows is (kh kw)^(1/p) |c|."""
    case, c = case_c
    common = dict(padding=case.padding, ceil_mode=case.ceil_mode, data_format=case.data_format)
    y = ref.max_pool2d(case.x, case.window, case.stride, dilation=case.dilation, **common)
    tol64.assert_close(y, np.full(y.shape, c), 0.0, "max pooling of a constant")
    y = ref.avg_pool2d(case.x, case.window, case.stride, count_include_pad=False, **common)
    tol64.assert_close(y, np.full(y.shape, c), tol64.avg_pool(case.x, case.window, case.stride, **common),
                       "average pooling (padding not counted) of a constant")
    y = ref.global_avg_pool2d(case.x, data_format=case.data_format)
    h, w = _spatial(case.x, case.data_format)
    tol64.assert_close(y, np.full(y.shape, c), tol64.mean_of(abs(c), h * w), "global average of a constant")
    # Lp over full windows: an image at least one window large
    n_b, c_n = case.x.shape[0], case.x.shape[-1] if case.data_format == "channels_last" else case.x.shape[1]
    hh, ww = max(h, case.window[0]), max(w, case.window[1])
    shape = (n_b, hh, ww, c_n) if case.data_format == "channels_last" else (n_b, c_n, hh, ww)
    y = ref.lp_pool2d(np.full(shape, c), case.p, case.window, case.stride, data_format=case.data_format)
    expected = np.full(y.shape, (case.window[0] * case.window[1]) ** (1 / case.p) * abs(c))
    tol64.assert_close(y, expected, tol64.lp_pool(expected, case.window, case.p) + tol64.bound(2, expected),
                       f"L{case.p} pooling of a constant over full windows")


@st.composite
def uniform_conv_cases(draw):
    return draw(gen64.pool_cases(kinds=("avg",), specials=False, half_padding=True, ceil_modes=(False,)))


def check_avg_is_uniform_depthwise_conv(case: gen64.PoolCase) -> None:
    """avg_pool(x; count_include_pad=True) == conv2d(x, 1/(kh kw), groups=C) with the same zero padding
    ('valid', 'same' or explicit), floor mode."""
    kh, kw = case.window
    c = case.x.shape[-1] if case.data_format == "channels_last" else case.x.shape[1]
    w = np.full((c, 1, kh, kw), 1.0 / (kh * kw))
    stride = case.window if case.stride is None else case.stride
    conv = ref.conv2d(case.x, w, stride=stride, padding=case.padding, groups=c, data_format=case.data_format)
    avg = ref.avg_pool2d(case.x, case.window, case.stride, padding=case.padding, count_include_pad=True,
                         data_format=case.data_format)
    tol = (tol64.conv(case.x, w, groups=c, data_format=case.data_format)
           + tol64.avg_pool(case.x, case.window, case.stride, padding=case.padding, count_include_pad=True,
                            data_format=case.data_format))
    tol64.assert_close(avg, conv, tol, "average pooling vs depthwise convolution with a uniform kernel")


def check_l1_is_window_times_mean_abs(case: gen64.PoolCase) -> None:
    """'valid' L1 pooling = kh kw * average pooling of |x|."""
    k = case.window[0] * case.window[1]
    l1 = ref.lp_pool2d(case.x, 1.0, case.window, case.stride, data_format=case.data_format)
    avg = ref.avg_pool2d(np.abs(case.x), case.window, case.stride, data_format=case.data_format)
    tol = tol64.lp_pool(l1, case.window, 1.0) + k * tol64.avg_pool(np.abs(case.x), case.window, case.stride,
                                                                   data_format=case.data_format)
    tol64.assert_close(l1, k * avg, tol, "L1 pooling vs window size times the average of |x|")


def check_global_is_one_window(case: gen64.PoolCase) -> None:
    h, w = _spatial(case.x, case.data_format)
    g = ref.global_avg_pool2d(case.x, data_format=case.data_format)
    one = ref.avg_pool2d(case.x, (h, w), data_format=case.data_format)
    one = one.reshape(g.shape)
    tol64.assert_close(g, one, tol64.avg_pool(case.x, (h, w), data_format=case.data_format).reshape(g.shape),
                       "global average vs one (H, W) window")


SANDWICH_CASES = sandwich_cases()
CONSTANT_CASES = constant_cases()
UNIFORM_CONV_CASES = uniform_conv_cases()
L1_CASES = gen64.pool_cases(kinds=("lp",), specials=False, paddings=st.just("valid"), ceil_modes=(False,))
GLOBAL_CASES = gen64.pool_cases(kinds=("avg",), specials=False)

@settings(deadline=None)
@given(SANDWICH_CASES)
def test_average_lies_between_min_and_max(case):
    check_min_avg_max(case)


@settings(deadline=None)
@given(CONSTANT_CASES)
def test_pooling_a_constant_gives_the_constant(case_c):
    check_constant(case_c)


@settings(deadline=None)
@given(UNIFORM_CONV_CASES)
def test_average_pooling_is_a_uniform_depthwise_convolution(case):
    check_avg_is_uniform_depthwise_conv(case)


@given(L1_CASES)
def test_l1_pooling_is_window_size_times_mean_abs(case):
    check_l1_is_window_times_mean_abs(case)


@given(GLOBAL_CASES)
def test_global_average_is_one_window(case):
    check_global_is_one_window(case)
