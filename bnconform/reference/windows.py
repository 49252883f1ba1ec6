"""Sliding windows over the two spatial axes, shared by convolution and pooling.

For one spatial axis of length L, window k, stride s, dilation d and padding (lo, hi):

    effective window   k_eff = d * (k - 1) + 1
    padded length      L_p   = lo + L + hi
    output length      out   = floor((L_p - k_eff) / s) + 1                    (floor mode)
                       out   = ceil((L_p - k_eff) / s) + 1, minus one if the    (ceil mode)
                               last window would start past lo + L (inside the end padding)

Window j covers padded positions j*s + t*d, t = 0..k-1. In ceil mode the last window may overhang the
padded input; the overhang is neither data nor padding (it is not counted by average pooling).

``"same"`` padding makes out = ceil(L / s) with total = max((out - 1) * s + k_eff - L, 0), split as
lo = total // 2 and hi = total - lo (the odd pixel at the end, as TensorFlow and Keras do).
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import _checks

PADDING_MODES = ("valid", "same")


class AxisPlan(NamedTuple):
    """How one spatial axis is windowed."""

    lo: int  # padding before the data
    hi: int  # padding after the data
    overhang: int  # positions past the end padding that the last window (ceil mode) reaches
    out: int  # number of windows


def same_padding(length: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding for one axis: out = ceil(L / s), extra pixel at the end."""
    for name, v in (("length", length), ("window", k), ("stride", s), ("dilation", d)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if name == "length" else 1):
            raise ValueError(f"{name}: expected an int >= {0 if name == 'length' else 1}, got {v!r}")
    out = -(-length // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - length, 0)
    return total // 2, total - total // 2


def parse_padding(padding) -> str | tuple[tuple[int, int], tuple[int, int]]:
    """``"valid"``, ``"same"``, an int, or ``((top, bottom), (left, right))`` / ``(ph, pw)``."""
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ValueError(f"padding: expected one of {PADDING_MODES} or explicit pairs, got {padding!r}")
        return padding
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        padding = ((padding, padding), (padding, padding))
    try:
        pairs = tuple(p if isinstance(p, (tuple, list)) else (p, p) for p in padding)
        pairs = tuple((int(lo), int(hi)) for lo, hi in pairs)
        ok = len(pairs) == 2 and all(lo >= 0 and hi >= 0 for lo, hi in pairs)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"padding: expected 'valid', 'same', an int >= 0 or ((top, bottom), (left, right)), got {padding!r}"
        )
    return pairs


def plan_axis(length: int, k: int, s: int, d: int, pad: tuple[int, int], ceil_mode: bool) -> AxisPlan:
    lo, hi = pad
    k_eff = d * (k - 1) + 1
    span = lo + length + hi - k_eff
    if span < 0:
        raise ValueError(
            f"x: a spatial size of {length} (padded to {lo + length + hi}) is smaller than the "
            f"effective window {k_eff}"
        )
    if ceil_mode:
        out = math.ceil(span / s) + 1
        if (out - 1) * s >= lo + length:
            out -= 1
    else:
        out = span // s + 1
    overhang = max((out - 1) * s + k_eff - (lo + length + hi), 0)
    return AxisPlan(lo, hi, overhang, out)


def plan(
    spatial: tuple[int, int], window, stride, dilation, padding, ceil_mode: bool = False
) -> tuple[AxisPlan, AxisPlan]:
    """Padding and output size for both spatial axes."""
    window = _checks.positive_pair("window", window)
    stride = _checks.positive_pair("stride", stride)
    dilation = _checks.positive_pair("dilation", dilation)
    padding = parse_padding(padding)
    if padding == "valid":
        pads = ((0, 0), (0, 0))
    elif padding == "same":
        if ceil_mode:
            raise ValueError("ceil_mode: not defined together with padding='same'")
        pads = tuple(same_padding(L, k, s, d) for L, k, s, d in zip(spatial, window, stride, dilation))
    else:
        pads = padding
    return tuple(
        plan_axis(L, k, s, d, p, ceil_mode)
        for L, k, s, d, p in zip(spatial, window, stride, dilation, pads)
    )


def to_nchw(x: np.ndarray, data_format: str) -> np.ndarray:
    return x if _checks.data_format(data_format) == "channels_first" else x.transpose(0, 3, 1, 2)


def from_nchw(y: np.ndarray, data_format: str) -> np.ndarray:
    return y if data_format == "channels_first" else y.transpose(0, 2, 3, 1)


class Windows(NamedTuple):
    """Windows of an NCHW input: arrays shaped (N, C, OH, OW, kh, kw)."""

    values: np.ndarray  # the padded input under each window (padding and overhang hold 0)
    is_data: np.ndarray  # True where the window sees the input itself
    is_inside: np.ndarray  # True where it sees the input or its explicit padding (not the overhang)


def extract(x_nchw: np.ndarray, window, stride, dilation, plans: tuple[AxisPlan, AxisPlan]) -> Windows:
    """Windows of ``x_nchw`` (N, C, H, W) under ``plans``; masks tell data, padding and overhang apart."""
    (kh, kw), (sh, sw), (dh, dw) = (
        _checks.positive_pair("window", window),
        _checks.positive_pair("stride", stride),
        _checks.positive_pair("dilation", dilation),
    )
    ph, pw = plans
    widths = ((0, 0), (0, 0), (ph.lo, ph.hi + ph.overhang), (pw.lo, pw.hi + pw.overhang))
    padded = np.pad(x_nchw, widths)
    is_data = np.pad(np.ones(x_nchw.shape[2:], bool), widths[2:])
    is_inside = np.pad(
        np.ones((ph.lo + x_nchw.shape[2] + ph.hi, pw.lo + x_nchw.shape[3] + pw.hi), bool),
        ((0, ph.overhang), (0, pw.overhang)),
    )
    k_eff = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)

    def view(a: np.ndarray) -> np.ndarray:
        v = sliding_window_view(a, k_eff, axis=(-2, -1))
        return v[..., : ph.out * sh : sh, : pw.out * sw : sw, ::dh, ::dw]

    return Windows(view(padded), view(is_data), view(is_inside))
