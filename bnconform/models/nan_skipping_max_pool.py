"""nan_skipping_max_pool: max pooling that skips NaN (a reference model).

Mechanism: TensorFlow's CPU MaxPool (``tf.nn.max_pool``, which Keras's tensorflow backend and
tf_keras call) keeps, per window, a running maximum that starts at some ``start`` and is replaced by
a value only ``if (v > max)``. A comparison with NaN is false, so a NaN beside numbers is skipped, and
-inf never replaces the start. Hence y = max(start, max of the window's non-NaN values): a window
with a number greater than the start gives its maximum, and a window whose only values are NaN or
-inf gives the start itself.

Which start a kernel uses depends on the kernel path, not on the dtype alone: Eigen's
``MaxReducer`` (TensorFlow's default CPU path) starts at the dtype's lowest finite value
(-3.4028235e38 in float32, -65504 in float16), while oneDNN kernels may start at -inf (measured by a
user on an Intel CPU with AVX512_FP16: float16 with oneDNN gives -inf for an all-NaN window), and
bfloat16 gives -inf or the lowest finite value depending on the kernel and layout TF picks (TF 2.21:
-inf in NHWC; in NCHW -inf for 1, 4 or 8 channels, -3.39e38 for 2 or 3). Which path runs depends on
the CPU and on TF_ENABLE_ONEDNN_OPTS, so the model accepts, element by element and in every dtype,
exactly the outcomes the mechanism can give: in a window whose only values are NaN or -inf, -inf or
the dtype's lowest finite value; in any other window the maximum of its non-NaN values (the one
result both starts give). NaN, +inf or any other number for a window without numbers, the start for
a window with numbers, and a propagated NaN are rejected. Padding is not a value and is ignored, as
in the reference.

Tolerance: 0, as for the reference's max pooling (the result is one of the inputs).
"""

from __future__ import annotations

import numpy as np

from bnconform.reference import windows

from .. import checks, dtypes
from ..compare import compare
from . import NotModelled

NAME = "nan_skipping_max_pool"
REPLACES = "reference"
CHECKS = (checks.POOL2D,)
PARAMS: dict = {}


def max_pool_skipping_nan(x, window, stride, *, padding, ceil_mode, data_format, start: float) -> np.ndarray:
    """max(start, max over the numbers of each window), NaN skipped."""
    xc = windows.to_nchw(np.asarray(x, np.float64), data_format)
    plans = windows.plan(xc.shape[2:], window, stride, (1, 1), padding, ceil_mode)
    win = windows.extract(xc, window, stride, (1, 1), plans)
    numbers = win.is_data & ~np.isnan(win.values)
    masked = np.where(numbers, win.values, -np.inf)
    y = np.maximum(masked.max(axis=(-2, -1)), start)
    return windows.from_nchw(y, data_format)


def judge(example: checks.Example) -> list:
    case = example.case
    if case.kind != "max":
        raise NotModelled(f"model {NAME!r} models max pooling, not {case.kind}")
    kw = dict(padding=case.padding, ceil_mode=case.ceil_mode, data_format=case.data_format)
    from_lowest = max_pool_skipping_nan(example.inputs, case.window, case.stride,
                                        start=-dtypes.largest(case.dtype), **kw)
    from_neg_inf = max_pool_skipping_nan(example.inputs, case.window, case.stride, start=-np.inf, **kw)
    # The two starts differ only in a window whose only values are NaN or -inf (-inf against the
    # lowest finite value); there expect the start the framework gave if it is -inf, else the lowest.
    y = np.asarray(example.outputs["y"])
    expected = np.where(y == from_neg_inf, from_neg_inf, from_lowest) if y.shape == from_lowest.shape else from_lowest
    return [compare(example.outputs["y"], expected, np.zeros_like(expected), dtype=case.dtype, name="y")]
