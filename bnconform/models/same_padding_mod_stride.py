"""same_padding_mod_stride: Keras 3.5.0 to 3.8.0's 'same' pooling on the torch backend (a reference model).

Mechanism (``keras/src/backend/torch/nn.py`` of 3.5.0 to 3.8.0, ``_compute_padding_length`` and
``_apply_same_padding``; keras-team/keras#20235, rewritten in 3.9.0 by keras-team/keras#20774). Per
spatial axis of length L, window k and stride s the backend pads

    total = (k - 1) - (L - 1) mod s,    lo = floor(total / 2),    hi = ceil(total / 2)

which is TensorFlow's 'same' total ``max((ceil(L / s) - 1) s + k - L, 0)`` without the ``max``:
it is negative when the window is shorter than ``(L - 1) mod s + 1`` (a stride larger than the
window). The pairs are collected last axis first, and then:

- every axis symmetric (lo = hi): torch's pooling gets ``padding=[lo_W, lo_H]``, which torch reads
  as (H, W): the rows are padded by the columns' amount and the columns by the rows', with -inf
  (max) or not counted (avg, ``count_include_pad=False``). Where that padding is negative, more
  than half the window, or leaves no window, torch raises instead (the crash model
  :mod:`same_padding_mod_stride_crash`);
- some axis asymmetric: the input is padded by (lo, hi) on every axis with ``mode="replicate"``
  (a negative amount crops) and pooled with padding 0, so copied edge values count as data and
  average pooling divides every window by kh * kw. The padded length ``L + total >= k``, so this
  branch never raises.

3.9.0 clamps the total at 0 and keeps the axis order: what is left is the replicated edges
(:mod:`same_padding_replicated_edges`). Measured against keras 3.8.0 on torch 2.13.0, max and avg,
channels_last, H in 1..7, W in {1, 3, 4, 6}, windows and strides 1..3 on each axis (4,536 cases):
the outputs equal this model's wherever keras returns, and keras raises exactly where the crash model
predicts (docs/history.md#keras-20235).

Tolerance: the standard pooling bound (``tolerance.pool2d``) of the pooling the backend does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bnconform.reference import avg_pool2d, max_pool2d, windows

from .. import checks, tolerance
from ..compare import compare
from . import NotModelled

NAME = "same_padding_mod_stride"
REPLACES = "reference"
CHECKS = (checks.POOL2D,)
PARAMS: dict = {}

KINDS = ("max", "avg")


class BackendPadding(NamedTuple):
    """What the backend does with a 'same' pooling: ``"pool"`` (torch's pooling pads by ``pads``, one
    amount per axis in torch's (H, W) order) or ``"replicate"`` (the input padded by the (lo, hi)
    ``pads`` of each axis, edges replicated, then pooled with padding 0)."""

    branch: str
    pads: tuple


def backend_padding(spatial, window, stride) -> BackendPadding:
    """The padding of ``_apply_same_padding`` (keras 3.5.0 to 3.8.0) for an (H, W) input."""
    pairs = []
    for length, k, s in zip(spatial, window, stride):
        total = (k - 1) - (length - 1) % s
        pairs.append((total // 2, (total + 1) // 2))
    if all(lo == hi for lo, hi in pairs):
        return BackendPadding("pool", tuple(lo for lo, _ in reversed(pairs)))  # (W's, H's), read as (H, W)
    return BackendPadding("replicate", tuple(pairs))


#: torch's messages (torch 2.13.0, ``torch/_meta_registrations.py``) where it refuses a pooling's padding
NEGATIVE = r"pad must be non-negative"
OVER_HALF = r"pad should be at most half of effective kernel size"
TOO_SMALL = r"Output size is too small"


def refusal(plan: BackendPadding, spatial, window, stride) -> tuple[str, str] | None:
    """Why torch refuses the ``"pool"`` branch's padding (the pattern of its message, and in words),
    in torch's order: each axis, H then W, for a negative padding and then one over half the window
    (dilation 1: ``k // 2``); then each axis for an output of no window,
    ``floor((L + 2 p - k) / s) + 1 < 1``. None: torch accepts it (the ``"replicate"`` branch always)."""
    if plan.branch != "pool":
        return None
    for axis, (p, k) in zip("HW", zip(plan.pads, window)):
        if p < 0:
            return NEGATIVE, f"axis {axis}: padding {p} < 0"
        if p > k // 2:
            return OVER_HALF, f"axis {axis}: padding {p} > half the window {k}"
    for axis, (p, k, s, length) in zip("HW", zip(plan.pads, window, stride, spatial)):
        if (length + 2 * p - k) // s + 1 < 1:
            return TOO_SMALL, f"axis {axis}: no window of {k} fits {length} padded by {p} on each side"
    return None


def replicate(xc: np.ndarray, pads) -> np.ndarray:
    """``torch.nn.functional.pad(mode="replicate")`` of an NCHW array: edges copied, negative amounts crop."""
    grown = np.pad(xc, ((0, 0), (0, 0), *[(max(lo, 0), max(hi, 0)) for lo, hi in pads]), mode="edge")
    crop = tuple(slice(max(-lo, 0), grown.shape[2 + i] - max(-hi, 0)) for i, (lo, hi) in enumerate(pads))
    return grown[(slice(None), slice(None), *crop)]


def judge(example: checks.Example) -> list:
    case = example.case
    if case.kind not in KINDS or case.padding != "same":
        raise NotModelled(f"model {NAME!r} models 'same' max and average pooling, not {case.kind} with padding "
                          f"{case.padding!r}")
    fmt = case.data_format
    xc = windows.to_nchw(np.asarray(example.inputs, np.float64), fmt)
    plan = backend_padding(xc.shape[2:], case.window, case.stride)
    refused = refusal(plan, xc.shape[2:], case.window, case.stride)
    if refused is not None:
        raise NotModelled(f"model {NAME!r}: torch raises on this case ({refused[1]}): the crash model "
                          "same_padding_mod_stride_crash, not outputs")
    if plan.branch == "pool":
        x, padding = example.inputs, tuple((p, p) for p in plan.pads)
    else:
        x, padding = windows.from_nchw(replicate(xc, plan.pads), fmt), "valid"
    common = dict(padding=padding, ceil_mode=False, data_format=fmt)
    if case.kind == "max":
        expected, kwargs = max_pool2d(x, case.window, case.stride, **common), common
    else:
        kwargs = dict(common, count_include_pad=False, stride=case.stride)
        expected = avg_pool2d(x, case.window, **kwargs)
    tol = tolerance.pool2d(case.kind, np.asarray(x, np.float64), expected, dtype=case.dtype, window=case.window,
                           **kwargs)
    return [compare(example.outputs["y"], expected, tol, dtype=case.dtype, name="y")]
