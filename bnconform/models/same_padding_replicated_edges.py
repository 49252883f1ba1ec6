"""same_padding_replicated_edges: 'same' average pooling over an edge-replicated input (a reference model).

Mechanism: Keras's torch backend (``keras/src/backend/torch/nn.py``, ``average_pool`` and
``_apply_same_padding``) computes TensorFlow's 'same' padding per spatial axis (total
``max((ceil(L / s) - 1) * s + k - L, 0)``, the odd pixel at the end). When it is symmetric on every
axis it passes it to ``avg_pool2d(count_include_pad=False)``, which is correct; when it is
asymmetric on any axis it pads the input itself with ``mode="replicate"`` on every axis and pools
with padding 0, so the copied edge values are averaged as if they were data and every window is
divided by kh * kw. Fixed upstream after Keras 3.15.1 (keras-team/keras#23233).

Tolerance: the standard average-pooling bound (``tolerance.pool2d``) of a valid pooling of the
padded input.
"""

from __future__ import annotations

import numpy as np

from bnconform.reference import avg_pool2d, windows

from .. import checks, tolerance
from ..compare import compare
from . import NotModelled

NAME = "same_padding_replicated_edges"
REPLACES = "reference"
CHECKS = (checks.POOL2D,)
PARAMS: dict = {}


def replicated_input(x, window, stride, data_format: str):
    """The input as the torch backend pools it: edge-replicated by the 'same' padding if that is
    asymmetric on any axis (else None: the backend pools correctly)."""
    xc = windows.to_nchw(np.asarray(x, np.float64), data_format)
    pads = [windows.same_padding(length, k, s, 1) for length, k, s in zip(xc.shape[2:], window, stride)]
    if all(lo == hi for lo, hi in pads):
        return None
    padded = np.pad(xc, ((0, 0), (0, 0), *pads), mode="edge")
    return windows.from_nchw(padded, data_format)


def judge(example: checks.Example) -> list:
    case = example.case
    if case.kind != "avg" or case.padding != "same":
        raise NotModelled(f"model {NAME!r} models 'same' average pooling, not {case.kind} with padding "
                          f"{case.padding!r}")
    padded = replicated_input(example.inputs, case.window, case.stride, case.data_format)
    if padded is None:  # symmetric padding: the backend is correct, so the reference is the model
        return checks.judge(example)
    fmt = case.data_format
    expected = avg_pool2d(padded, case.window, case.stride, padding="valid", data_format=fmt)
    tol = tolerance.pool2d("avg", padded, expected, dtype=case.dtype, window=case.window, stride=case.stride,
                           padding="valid", ceil_mode=False, count_include_pad=False, data_format=fmt)
    return [compare(example.outputs["y"], expected, tol, dtype=case.dtype, name="y")]
