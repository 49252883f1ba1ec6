"""2-D pooling: the vectorized reference agrees with the naive loops of ``naive.py``.

For each window W with data taps D (``naive.pool2d``):
    max  = max over D and the padding taps as -inf; a NaN in D gives NaN     (compared exactly)
    avg  = sum_D x / |D|, or / (|D| + padding taps) with count_include_pad; overhang never counted
    lp   = (sum_D |x|^p)^(1/p)
    global average = (1 / HW) sum over all positions.
Windows and strides up to 3, dilation 1-2 (max), padding 'valid', 'same' and explicit pairs up to the
window, ceil_mode, both layouts. A window that would see no input value must be refused with a ValueError
naming ``padding``. Tolerances: ``tol64.avg_pool``, ``tol64.lp_pool``, ``tol64.mean_of``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import gen64
import naive
from bnconform import reference as ref
import tol64


def pool_reference(case: gen64.PoolCase) -> np.ndarray:
    if case.kind == "max":
        return ref.max_pool2d(case.x, case.window, case.stride, **case.kwargs())
    if case.kind == "avg":
        return ref.avg_pool2d(case.x, case.window, case.stride, **case.kwargs())
    return ref.lp_pool2d(case.x, case.p, case.window, case.stride, **case.kwargs())


def pool_naive(case: gen64.PoolCase) -> np.ndarray:
    return naive.pool2d(case.x, case.kind, case.window, case.stride, p=case.p, **case.kwargs())


def check_pool(case: gen64.PoolCase) -> None:
    try:
        expected = pool_naive(case)
    except naive.EmptyWindow:
        with pytest.raises(ValueError, match="^padding"):
            pool_reference(case)
        return
    y = pool_reference(case)
    if case.kind == "max":
        tol = 0.0  # a selection: no rounding at all
    elif case.kind == "avg":
        tol = tol64.avg_pool(case.x, case.window, case.stride, **case.kwargs())
    else:
        tol = tol64.lp_pool(expected, case.window, case.p)
    tol64.assert_close(y, expected, tol, f"{case.kind} pooling")


def check_global_avg(x_format) -> None:
    x, data_format = x_format
    y = ref.global_avg_pool2d(x, data_format=data_format)
    hw = x.shape[1] * x.shape[2] if data_format == "channels_last" else x.shape[2] * x.shape[3]
    tol = tol64.mean_of(naive.global_avg_pool2d(np.abs(x), data_format), hw)
    tol64.assert_close(y, naive.global_avg_pool2d(x, data_format), tol, "global average pooling")


CASES = gen64.pool_cases()
GLOBAL_CASES = gen64.pool_cases(kinds=("avg",), specials=False)

@settings(deadline=None)
@given(CASES)
def test_pooling_matches_naive(case):
    check_pool(case)


@given(GLOBAL_CASES)
def test_global_average_matches_naive(case):
    check_global_avg((case.x, case.data_format))
