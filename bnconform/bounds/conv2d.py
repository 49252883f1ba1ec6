"""A 2-D convolution y = b + sum_{K terms} w x, K = C_in/groups * kh * kw: its error terms, once, and both tiers.

    |e_y| <= g(K + 1) (conv(|x|, |w|) + |b|) + u |y - b| + u |y|

conv(|x|, |w|) is the sum of the absolute products under each output (the reduction's condition),
computed with the reference itself on absolute values. u |y - b| lets the sum be stored in the dtype
before the bias is added (Flax's Conv adds the bias as a separate op): that rounds the sum's *value*
y - b (u conv(|x|, |w|) would be K-fold larger under cancellation, and excused a float16 convolution
accumulating in float16 whenever it had a bias). u |y| stores the result.

- worst-case tier (``tolerance``): g = Higham's gamma_{K+1} (2nd ed., eq. (3.4)), element-wise;
- statistical tier (``findings``): g = Higham and Mary's lambda sqrt(K + 1) u (2019, Theorem 3.1) for
  each output (K reaches 2,304 at production size, where the worst case allows sqrt(K) / lambda = 8
  times more), then a relative error shared by all outputs (``fits.shared_scale``: weights scaled, a
  wrong normalization) with the two stored roundings as the outputs' own errors that may lean, u for
  a rounding every output shares (a transformed weight, Winograd's G w G^T, rounded once), and the
  K-term sums' errors random across outputs. An input of repeated values is left to the worst case
  (``reduction.varied``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bnconform.reference import batch_norm as _bn
from bnconform.reference import conv as _conv

from . import fits
from .reduction import PROBABILISTIC, WORST_CASE, ReductionBound, varied
from .roundoff import Roundoff, finish, roundoff


class Terms(NamedTuple):
    k: int  # K, the terms summed per output
    magnitude: np.ndarray  # conv(|x|, |w|) + |b|
    stored_sum: np.ndarray | float  # u |y - b| (0 without a bias)


def terms(x, w, b, y, r: Roundoff, **conv_kwargs) -> Terms:
    w = np.asarray(w, np.float64)
    magnitude = _conv.conv2d(np.abs(x), np.abs(w), None, **conv_kwargs)
    if b is None:
        return Terms(w.shape[1] * w.shape[2] * w.shape[3], magnitude + 0.0, 0.0)
    axis = 3 if conv_kwargs.get("data_format", "channels_last") == "channels_last" else 1
    bias = _bn.broadcast(np.asarray(b, np.float64), 4, axis)
    return Terms(w.shape[1] * w.shape[2] * w.shape[3], magnitude + np.abs(bias),
                 r.out * np.abs(np.asarray(y, np.float64) - bias))


def bound(t: Terms, y, r: Roundoff, reduction: ReductionBound) -> np.ndarray:
    """SAFETY (g(K + 1) (conv(|x|, |w|) + |b|) + u |y - b| + u |y|) + floor, with ``reduction``'s g (the
    probabilistic one on an input whose values vary: ``findings`` checks it first)."""
    return finish(reduction.gamma(t.k + 1, r, varied=True) * t.magnitude + t.stored_sum, y, r)


def tolerance(x, w, b, y, *, dtype: str, **conv_kwargs) -> np.ndarray:
    """Worst-case tier: the element-wise bound with Higham's gamma_{K+1}."""
    r = roundoff(dtype)
    return bound(terms(x, w, b, y, r, **conv_kwargs), y, r, WORST_CASE)


def findings(actual, expected, x, w, b, *, dtype: str, **conv_kwargs) -> fits.Findings:
    """Statistical tier: each output against the bound with lambda sqrt(K + 1) u ("element"
    findings), and all outputs' shared relative error (``fits.shared_scale``, listed first)."""
    if not varied(x):  # repeated addends: neither model of this tier holds, the worst case does
        return fits.Findings()
    r = roundoff(dtype)
    expected = np.asarray(expected, np.float64)
    t = terms(x, w, b, expected, r, **conv_kwargs)
    found = fits.beyond(actual, expected, bound(t, expected, r, PROBABILISTIC), "element")
    err = np.asarray(actual, np.float64) - expected
    keep = np.isfinite(err)
    own = np.broadcast_to(t.stored_sum + r.out * np.abs(expected), expected.shape)
    return fits.joined(fits.shared_scale(err[keep], expected[keep], own[keep], r.out, r), found)
