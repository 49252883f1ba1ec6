"""lp_pool_signed: Lp pooling without the absolute value, (sum x^p)^(1/p) (a reference model).

Mechanism: ``torch.nn.functional.lp_pool2d`` computes ``avg_pool2d(x.pow(p)) * (kh * kw)`` and then
``(sign(s) * relu(|s|)).pow(1 / p)`` -- x^p, not |x|^p (pytorch/pytorch#184037). For even p the two
agree; for odd p a negative input keeps its sign: p = 1 is a signed sum pooling (pow(s, 1) = s, so
a negative window sum comes out negative), and for p = 3, 5, ... a negative window sum s gives
pow(s, 1/p) = NaN (a negative base with a non-integer exponent).

Tolerance: the window sum s is a sum of k signed terms, so it is bounded by the absolute sum
T = sum |x|^p, not by |s|: the power, the sum, the division by k and the product by k give

    |e_s| <= (gamma_{k+1} + 4 u) T + c f      (c of the window's powers below the dtype's smallest normal
                                              f: subnormal or flushed, tolerance.power_underflow_error)
    |e_y| <= min( (1/p) |s|^(1/p - 1) |e_s| , |e_s|^(1/p) )    (first order; and t -> t^(1/p) is
                                                               1/p-Hoelder with constant 1 on t >= 0)

A window sum within SAFETY |e_s| of zero may come out of either sign, so there the model accepts NaN
or any root in [0, (max(s, 0) + SAFETY |e_s|)^(1/p)] (a negative x^3 flushed to -0 gives pow(0, 1/3) = 0).
Then the exponent 1/p rounded to the dtype (``tolerance.root_exponent_error``: delta |ln y| |y|), the
root's own rounding u |y|, the safety factor and the underflow floor (``tolerance._finish``).
For p = 1, |e_y| = |e_s|.

With ``powers_in_dtype`` (PyTorch: ``x.pow(p)`` and the window sum in the tensor's dtype), a power or
window sum beyond the dtype's largest finite value overflows: in float16 at p = 3 every |x| > 40.3
(41^3 = 68,921 > 65,504), and the output is inf (pow(+-inf, 1/p) = inf; NaN where a window holds
powers overflowing both ways), where the reference's (sum |x|^p)^(1/p) is 41.
"""

from __future__ import annotations

import numpy as np

from bnconform.reference import windows

from .. import checks, tolerance
from ..compare import compare
from .. import dtypes
from . import NotModelled, Param

NAME = "lp_pool_signed"
REPLACES = "reference"
CHECKS = (checks.POOL2D,)
PARAMS = {
    "powers_in_dtype": Param("whether x^p and the window sum are held in the layer's dtype, so that one beyond "
                             "its largest finite value overflows (the sum's root is then inf, or NaN where the "
                             "overflow is negative)", lambda v: isinstance(v, bool), "true or false", False),
}


def signed_window_sums(x, p: float, window, stride, *, padding, ceil_mode, data_format):
    """(sum of x^p over the input values of each window, sum of |x|^p), channels as ``data_format``."""
    xc = windows.to_nchw(np.asarray(x, np.float64), data_format)
    plans = windows.plan(xc.shape[2:], window, stride, (1, 1), padding, ceil_mode)
    win = windows.extract(xc, window, stride, (1, 1), plans)
    with np.errstate(invalid="ignore", over="ignore"):
        powered = np.where(win.is_data, np.power(win.values, p), 0.0)
        magnitude = np.where(win.is_data, np.abs(win.values) ** p, 0.0)
    s, t = powered.sum(axis=(-2, -1)), magnitude.sum(axis=(-2, -1))
    return windows.from_nchw(s, data_format), windows.from_nchw(t, data_format)


def signed_root(s: np.ndarray, p: float) -> np.ndarray:
    """pow(s, 1/p) as C's pow computes it: NaN for s < 0 unless 1/p is an integer (p = 1)."""
    if p == 1:
        return s.copy()
    with np.errstate(invalid="ignore"):
        return np.where(s < 0, np.nan, np.abs(s) ** (1.0 / p))


def overflowed(x, p: float, s: np.ndarray, case) -> tuple[np.ndarray, np.ndarray]:
    """Where x^p or the window sum s leaves the dtype's finite range (x^p rounds to +-inf beyond
    largest * (1 + u), the round-to-nearest threshold), and the root there: NaN where the window
    holds powers overflowing both ways (inf - inf), else inf -- C's pow(-inf, 1/p) is +inf for a
    p that is not an odd integer (measured: torch lp_pool2d(float16 [-41.], 3, 1) = inf)."""
    limit = dtypes.largest(case.dtype) * (1.0 + dtypes.unit_roundoff(case.dtype))
    kw = dict(padding=case.padding, ceil_mode=case.ceil_mode, data_format=case.data_format)
    with np.errstate(over="ignore", invalid="ignore"):
        power = np.power(np.asarray(x, np.float64), p)
    high, _ = signed_window_sums((power >= limit).astype(np.float64), 1.0, case.window, case.stride, **kw)
    low, _ = signed_window_sums((power <= -limit).astype(np.float64), 1.0, case.window, case.stride, **kw)
    both = (high > 0) & (low > 0)
    return (high > 0) | (low > 0) | (np.abs(s) >= limit), np.where(both, np.nan, np.inf)


def judge(example: checks.Example, *, powers_in_dtype: bool = False) -> list:
    case = example.case
    if case.kind != "lp":
        raise NotModelled(f"model {NAME!r} models Lp pooling, not {case.kind}")
    p = float(case.p)
    s, t = signed_window_sums(example.inputs, p, case.window, case.stride, padding=case.padding,
                              ceil_mode=case.ceil_mode, data_format=case.data_format)
    y = signed_root(s, p)
    r = tolerance.roundoff(case.dtype)
    k = case.window[0] * case.window[1]
    below = (np.abs(np.asarray(example.inputs, np.float64)) ** p < r.floor).astype(np.float64)
    count, _ = signed_window_sums(below, 1.0, case.window, case.stride, padding=case.padding,
                                  ceil_mode=case.ceil_mode, data_format=case.data_format)
    e_s = (r.gamma(k + 1) + 4.0 * r.out) * t + count * r.floor  # powers below the smallest normal: flushed
    if p == 1:
        e_y = e_s
    else:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            first_order = np.where(s > 0, np.abs(s) ** (1.0 / p - 1.0) * e_s / p, np.inf)
        e_y = np.minimum(first_order, e_s ** (1.0 / p))
    e_y = e_y + tolerance.root_exponent_error(np.nan_to_num(y), p, case.dtype)  # pow's exponent 1/p in the dtype
    tol = tolerance.SAFETY * (e_y + r.out * np.abs(np.nan_to_num(y))) + r.floor
    actual = np.asarray(example.outputs["y"], np.float64)
    if p != 1:  # a sum within its error bound of 0 may come out of either sign: NaN, or a root in [0, hi]
        reach = tolerance.SAFETY * e_s
        unsure = np.abs(s) <= reach
        hi = (np.maximum(s, 0.0) + reach) ** (1.0 / p) * (1.0 + 4.0 * r.out)
        y = np.where(unsure, np.where(np.isnan(actual), np.nan, hi / 2), y)
        tol = np.where(unsure, hi / 2 + r.floor, tol)
    if powers_in_dtype:
        where, root = overflowed(example.inputs, p, s, case)
        y, tol = np.where(where, root, y), np.where(where, 0.0, tol)
    return [compare(actual, y, tol, dtype=case.dtype, name="y")]
