"""Average and global average pooling in NumPy, in a test dtype, computed several honest ways and with
planted bugs (the pooling half of the sensitivity matrix; ``numpy_bn`` is batch norm's).

Valid padding, channels_last. Each window's k values are summed in ``acc`` (float32 for half-precision
inputs, like every framework here) in one of ``numpy_bn``'s orders -- ``pairwise`` (NumPy's sum),
``sequential``, ``blocked`` (sequential blocks of 256, then their sum), ``float64`` (accumulated in
float64, then rounded to acc) -- and divided by the window's count (or multiplied by its rounded
reciprocal, ``reciprocal``), then stored in the dtype.

Planted bugs (each a parameter): ``divisor_offset`` (the divisor k + offset: an off-by-one count),
``scale`` (the output multiplied by a constant, e.g. 1 + 1e-4), ``half_acc`` (the sum accumulated in
the half dtype itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bnconform import dtypes

from .numpy_bn import _total


@dataclass(frozen=True)
class PoolImpl:
    sum: str = "pairwise"  # pairwise, sequential, blocked, float64
    reciprocal: bool = False  # multiply by a rounded 1/k instead of dividing by k
    divisor_offset: int = 0
    scale: float = 1.0
    half_acc: bool = False


def _windows(x, kind: str, window, stride):
    """(k, N, Ho, Wo, C) for average pooling, (k, N, C) for global: the values each output sums."""
    if kind == "global_avg":
        n, h, w, c = x.shape
        return np.moveaxis(x.reshape(n, h * w, c), 1, 0)
    (kh, kw), (sh, sw) = window, stride
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # N, Ho, Wo, C, kh, kw
    win = win.reshape(*win.shape[:4], kh * kw)
    return np.moveaxis(win, -1, 0)


def pool(x, kind: str, dtype: str, impl: PoolImpl, *, window=(1, 1), stride=(1, 1)) -> np.ndarray:
    """The pooled output of x (channels_last, valid padding), as float64 values of the dtype."""
    t = dtypes.numpy_dtype(dtype).type
    acc = t if (impl.half_acc or dtype not in dtypes.HALF) else np.float32
    vals = _windows(np.asarray(x, np.float64).astype(t), kind, window, stride)
    k = vals.shape[0]
    total = _total(vals.astype(acc), impl.sum, acc)
    divisor = k + impl.divisor_offset
    if impl.reciprocal:
        y = (total * acc(1.0 / divisor)).astype(acc)
    else:
        y = (total / acc(divisor)).astype(acc)
    if impl.scale != 1.0:
        y = (y * acc(impl.scale)).astype(acc)
    return y.astype(t).astype(np.float64)
