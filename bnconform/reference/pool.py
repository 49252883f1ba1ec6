"""2-D pooling: max, average, Lp-norm and global average, over the windows of ``windows.py``.

For a window W of the (padded) input, with D = the positions of W that hold input values:

    max:      y = max_{i in D} x_i           padding acts as -inf; a NaN in the window gives NaN
    average:  y = sum_{i in D} x_i / |W'|    W' = D (padding not counted, Keras/TF 'same') or
                                             the window clipped to the padded input (padding counted,
                                             PyTorch ``count_include_pad=True``); a ceil-mode overhang
                                             past the padding is never counted
    Lp-norm:  y = (sum_{i in D} |x_i|^p)^(1/p)   (p = 2: the L2-norm pooling of the course slides)
    global average: the mean over all H * W positions, per sample and channel.

``stride`` defaults to the window, as in every framework.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _checks, windows


def _pool_windows(x, window, stride, padding, dilation, ceil_mode, data_format) -> windows.Windows:
    x = _checks.as_float64("x", x)
    _checks.rank("x", x, 4)
    xc = windows.to_nchw(x, data_format)
    window = _checks.positive_pair("window", window)
    stride = window if stride is None else stride
    plans = windows.plan(xc.shape[2:], window, stride, dilation, padding, ceil_mode)
    win = windows.extract(xc, window, stride, dilation, plans)
    if not win.is_data.any(axis=(-2, -1)).all():
        raise ValueError("padding: some window covers no input value; padding must be smaller than the window")
    return win


def max_pool2d(
    x, window, stride=None, *, padding="valid", dilation=1, ceil_mode=False, data_format="channels_last"
) -> np.ndarray:
    """Max pooling; padding is -inf, NaN propagates."""
    win = _pool_windows(x, window, stride, padding, dilation, ceil_mode, data_format)
    masked = np.where(win.is_data, win.values, -np.inf)
    y = masked.max(axis=(-2, -1))  # np.max returns NaN when a window holds a NaN
    return windows.from_nchw(y, data_format)


def avg_pool2d(
    x,
    window,
    stride=None,
    *,
    padding="valid",
    ceil_mode=False,
    count_include_pad: bool = False,
    data_format="channels_last",
) -> np.ndarray:
    """Average pooling; the divisor counts padding only with ``count_include_pad``."""
    win = _pool_windows(x, window, stride, padding, 1, ceil_mode, data_format)
    total = np.where(win.is_data, win.values, 0.0).sum(axis=(-2, -1))
    counted = win.is_inside if count_include_pad else win.is_data
    y = total / counted.sum(axis=(-2, -1))
    return windows.from_nchw(y, data_format)


def lp_pool2d(
    x, p, window, stride=None, *, padding="valid", ceil_mode=False, data_format="channels_last"
) -> np.ndarray:
    """Lp-norm pooling, ``(sum |x|^p)^(1/p)`` over the input values of each window."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p > 0 or not np.isfinite(p):
        raise ValueError(f"p: expected a finite number > 0, got {p!r}")
    win = _pool_windows(x, window, stride, padding, 1, ceil_mode, data_format)
    powered = np.where(win.is_data, np.abs(win.values) ** p, 0.0)
    y = powered.sum(axis=(-2, -1)) ** (1.0 / p)
    return windows.from_nchw(y, data_format)


def global_avg_pool2d(x, *, data_format="channels_last") -> np.ndarray:
    """Mean over the spatial axes: (N, H, W, C) or (N, C, H, W) -> (N, C)."""
    x = _checks.as_float64("x", x)
    _checks.rank("x", x, 4)
    return windows.to_nchw(x, data_format).mean(axis=(2, 3))
