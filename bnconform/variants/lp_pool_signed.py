"""lp_pool_signed: Lp pooling without the absolute value, (sum x^p)^(1/p) (a reference variant).

Mechanism: ``torch.nn.functional.lp_pool2d`` computes ``avg_pool2d(x.pow(p)) * (kh * kw)`` and then
``(sign(s) * relu(|s|)).pow(1 / p)`` -- x^p, not |x|^p (pytorch/pytorch#184037). For even p the two
agree; for odd p a negative input keeps its sign: p = 1 is a signed sum pooling (pow(s, 1) = s, so
a negative window sum comes out negative), and for p = 3, 5, ... a negative window sum s gives
pow(s, 1/p) = NaN (a negative base with a non-integer exponent).

Tolerance: the window sum s is a sum of k signed terms, so it is bounded by the absolute sum
T = sum |x|^p, not by |s|: the power, the sum, the division by k and the product by k give

    |e_s| <= (gamma_{k+1} + 4 u) T
    |e_y| <= min( (1/p) |s|^(1/p - 1) |e_s| , |e_s|^(1/p) )    (first order; and t -> t^(1/p) is
                                                               1/p-Hoelder with constant 1 on t >= 0)

then the root's own rounding u |y|, the safety factor and the underflow floor (``tolerance._finish``).
For p = 1, |e_y| = |e_s|.
"""

from __future__ import annotations

import numpy as np

from reference import windows

from .. import checks, tolerance
from ..compare import compare
from . import NotModelled

NAME = "lp_pool_signed"
KIND = "reference"
PROPERTIES = ("pool2d", "pool2d_lp_odd_p")
PARAMS: dict = {}


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


def judge(example: checks.Example) -> list:
    case = example.case
    if case.kind != "lp":
        raise NotModelled(f"model {NAME!r} models Lp pooling, not {case.kind}")
    p = float(case.p)
    s, t = signed_window_sums(example.inputs, p, case.window, case.stride, padding=case.padding,
                              ceil_mode=case.ceil_mode, data_format=case.data_format)
    y = signed_root(s, p)
    r = tolerance.roundoff(case.dtype)
    k = case.window[0] * case.window[1]
    e_s = (r.gamma(k + 1) + 4.0 * r.out) * t
    if p == 1:
        e_y = e_s
    else:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            first_order = np.where(s > 0, np.abs(s) ** (1.0 / p - 1.0) * e_s / p, np.inf)
        e_y = np.minimum(first_order, e_s ** (1.0 / p))
    tol = tolerance.SAFETY * (e_y + r.out * np.abs(np.nan_to_num(y))) + r.floor
    return [compare(example.outputs["y"], y, tol, dtype=case.dtype, name="y")]
