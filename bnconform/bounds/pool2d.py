"""2-D pooling: the error terms of each kind, once, and both tiers.

    max:             0 (the result is one of the inputs; no arithmetic)
    average:         g avg(|x|) + ... (k = kh kw values summed, one division), avg(|x|) the
                     reference's pooling of |x| (the sum's condition, divided by the divisor)
    Lp-norm:         ((k u_acc + 4 u) max(1, 1/p) + u) |y|     (|x|^p, the sum, the root; all
                     terms non-negative, so the relative error of the sum is gamma_k)
                     + delta |ln y| |y|                       (the root's exponent 1/p in the
                     dtype, :func:`root_exponent_error`)
                     + min(s^(1/p-1) c f / p, (c f)^(1/p))     (c powers |x|^p of the window below
                     the smallest normal f, flushed or subnormal: :func:`power_underflow_error`)
    global average:  as average with k = H * W (the spatial axes of the case's data_format)

The average's two tiers:

- worst-case tier (``tolerance``): SAFETY (gamma_{k+1} avg(|x|) + u |y|) + floor, Higham's gamma_n
  (2nd ed., eq. (3.4)) for the sum and the division together;
- statistical tier (``findings``, average and global average): SAFETY (pg(k) avg(|x|) + 2 u_acc |y|
  + u |y|) + floor with Higham and Mary's pg(k) = lambda sqrt(k) u (2019, Theorem 3.1) for the sum;
  2 u_acc |y| is the division by the divisor or the product with its rounded reciprocal (two
  roundings of the value, each of one number, so deterministic). pg(k) is smaller once
  k > lambda^2 = 36, so this tightens global pooling (k = 1,024 at production size: 6 x 32 = 192 u
  against 1,025 u) and changes nothing for small windows, where the worst case, checked too, is the
  tighter one. Then all outputs' shared relative error (``fits.shared_scale``: a divisor off by one).
  Max pooling has no arithmetic and Lp pooling's windows are small: neither has anything to gain.
"""

from __future__ import annotations

import numpy as np

from bnconform.reference import pool as _pool

from .. import dtypes
from . import fits
from .reduction import PROBABILISTIC, varied
from .roundoff import SAFETY, Numerics, Roundoff, finish, resolve, roundoff


def average_terms(kind: str, x, window, **pool_kwargs) -> tuple[int, np.ndarray]:
    """(k, avg(|x|)) of an average (``"avg"``) or global average (``"global_avg"``) pooling: the
    reduction runs over the window, or the spatial axes H, W (1, 2 for NHWC, 2, 3 for NCHW)."""
    x = np.asarray(x, np.float64)
    if kind == "global_avg":
        fmt = pool_kwargs.get("data_format", "channels_last")
        k = x.shape[1] * x.shape[2] if fmt == "channels_last" else x.shape[2] * x.shape[3]
        return k, _pool.global_avg_pool2d(np.abs(x), data_format=fmt)
    kh, kw = (window, window) if np.isscalar(window) else window
    return kh * kw, _pool.avg_pool2d(np.abs(x), window, **pool_kwargs)


def root_exponent_error(y, p: float, dtype: str) -> np.ndarray:
    """What computing the root y = s^(1/p) with the exponent 1/p rounded to the dtype costs.

    An implementation that evaluates ``pow(s, 1 / p)`` in the dtype (PyTorch's ``lp_pool2d`` does)
    raises s to q (1 + delta) instead of q = 1/p, with delta = |fl(q) - q| / q the exponent's own
    rounding (0 when 1/p is representable: p = 1, 2, 4). Then

        s^(q (1 + delta)) = y s^(q delta) = y exp(delta ln y)  =>  |e_y| <= delta |ln y| |y|  (first order)

    (ln s^q = ln y). It grows with |ln y|, so it matters for outputs far from 1: at p = 3 in float32
    delta = 2.98e-8 = 0.5 u, and y = 4 costs 0.7 u more than the other terms allow.
    """
    q = 1.0 / float(p)
    delta = abs(float(dtypes.round_to(np.asarray(q), dtype)) - q) / q
    y = np.abs(np.asarray(y, np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, delta * np.abs(np.log(np.where(y > 0, y, 1.0))) * y, 0.0)


def underflowing_powers(x, p: float, window, r: "Roundoff", **pool_kwargs) -> np.ndarray:
    """How many of each Lp window's powers |x|^p fall below the dtype's smallest normal ``r.floor``."""
    below = (np.abs(np.asarray(x, np.float64)) ** p < r.floor).astype(np.float64)
    return _pool.lp_pool2d(below, 1.0, window, **pool_kwargs)  # p = 1: the count over the window's values


def power_underflow_error(s, p: float, count, r: "Roundoff") -> np.ndarray:
    """What the powers |x|^p of an Lp window lose to underflow, carried through the root.

    A power below the dtype's smallest normal f is subnormal or, on a CPU that flushes, zero (x = 0.01
    in float16 gives x^3 = 1e-6 < f = 6.1e-5), an absolute error up to f per term whatever its
    relative accuracy: up to e_s = k f over the window's sum s. The root t -> t^(1/p) carries it as

        |e_y| <= min( (1/p) s^(1/p - 1) e_s,  e_s^(1/p) )     (first order; and 1/p-Hoelder on t >= 0)

    so an output whose window sum is near the underflow range may be off by (count f)^(1/p) (0.04 at
    p = 3, one power in float16); a window with no power below f gets nothing. ``r.floor`` is f.
    """
    s = np.abs(np.asarray(s, np.float64))
    e_s = np.asarray(count, np.float64) * r.floor
    if p == 1:
        return np.broadcast_to(e_s, s.shape).copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        first_order = np.where(s > 0, s ** (1.0 / p - 1.0) * e_s / p, np.inf)
    return np.where(e_s > 0, np.minimum(first_order, e_s ** (1.0 / p)), 0.0)


def tolerance(kind: str, x, y, *, dtype: str, window=None, p=None, numerics: Numerics | None = None,
              **pool_kwargs) -> np.ndarray:
    """Worst-case tier: the tolerance on a pooled output of ``kind`` (module docstring)."""
    r = resolve(dtype, numerics)
    y = np.asarray(y, np.float64)
    if kind == "max":
        return np.zeros_like(y)
    if kind in ("avg", "global_avg"):
        k, magnitude = average_terms(kind, x, window, **pool_kwargs)
        return finish(r.gamma(k + 1) * magnitude, y, r)
    if kind == "lp":
        kh, kw = (window, window) if np.isscalar(window) else window
        rel = (kh * kw * r.acc + 4.0 * r.out) * max(1.0, 1.0 / p)
        return finish(rel * np.abs(y) + root_exponent_error(y, p, dtype)
                      + power_underflow_error(np.abs(y) ** p, p, underflowing_powers(x, p, window, r, **pool_kwargs),
                                              r), y, r)
    raise ValueError(f"kind: expected 'max', 'avg', 'lp' or 'global_avg', got {kind!r}")


def findings(actual, expected, kind: str, x, *, dtype: str, window=None, **pool_kwargs) -> fits.Findings:
    """Statistical tier, average and global average pooling: each output against the probabilistic
    bound ("element" findings), and all outputs' shared relative error (listed first); nothing for
    max and Lp pooling, or for an input of repeated values (left to the worst case)."""
    if kind not in ("avg", "global_avg") or not varied(x):
        return fits.Findings()
    r = roundoff(dtype)
    expected = np.asarray(expected, np.float64)
    k, magnitude = average_terms(kind, x, window, **pool_kwargs)
    own = (2.0 * r.acc + r.out) * np.abs(expected)
    bound = SAFETY * (PROBABILISTIC.gamma(k, r, varied=True) * magnitude + own) + r.floor
    with np.errstate(invalid="ignore"):
        found = fits.beyond(actual, expected, np.where(np.isfinite(magnitude), bound, np.inf), "element")
        err = np.asarray(actual, np.float64) - expected
    keep = np.isfinite(err) & np.isfinite(magnitude)
    return fits.joined(fits.shared_scale(err[keep], expected[keep], own[keep], r.out, r), found)
