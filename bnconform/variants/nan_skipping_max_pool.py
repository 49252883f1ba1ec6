"""nan_skipping_max_pool: max pooling that skips NaN (a reference variant).

Mechanism: TensorFlow's CPU MaxPool (``tf.nn.max_pool``, which Keras's tensorflow backend and
tf_keras call) starts each window at the dtype's lowest finite value and keeps ``if (v > max) max
= v`` (Eigen's ``MaxReducer``); a comparison with NaN is false, so a NaN beside numbers is skipped,
and so is -inf (it is not greater than the lowest finite value): a window whose only values are NaN
or -inf gives the lowest finite value of the dtype (-3.4028235e38 in float32, -65504 in float16).
In the dtypes listed in ``neg_inf_dtypes`` the kernel starts at -inf instead, so such a window gives
-inf (TF 2.21 on CPU: bfloat16 in NHWC, which Keras 3 always reaches since it transposes
channels_first). In the dtypes listed in ``either_start_dtypes`` the start depends on the kernel TF
picks for the shape, so such a window may give either (tf_keras passes channels_first bfloat16 to
NCHW kernels: -inf for 1, 4 or 8 channels, the lowest finite value for 2 or 3, measured on TF 2.21). In short y = max(start, max of the window's non-NaN values). Padding is not
a value and is ignored, as in the reference.

Tolerance: 0, as for the reference's max pooling (the result is one of the inputs).
"""

from __future__ import annotations

import numpy as np

from reference import windows

from .. import checks, dtypes
from ..compare import compare
from . import NotModelled, Param
from ._common import is_dtype_list

NAME = "nan_skipping_max_pool"
KIND = "reference"
PROPERTIES = ("pool2d", "pool2d_nonfinite")
PARAMS = {
    "neg_inf_dtypes": Param("dtypes in which a window without numbers gives -inf instead of the lowest "
                            "finite value", is_dtype_list, "a list of dtype names", []),
    "either_start_dtypes": Param("dtypes in which a window without numbers gives -inf or the lowest finite "
                                 "value, by kernel", is_dtype_list, "a list of dtype names", []),
}


def max_pool_skipping_nan(x, window, stride, *, padding, ceil_mode, data_format, start: float) -> np.ndarray:
    """max(start, max over the numbers of each window), NaN skipped."""
    xc = windows.to_nchw(np.asarray(x, np.float64), data_format)
    plans = windows.plan(xc.shape[2:], window, stride, (1, 1), padding, ceil_mode)
    win = windows.extract(xc, window, stride, (1, 1), plans)
    numbers = win.is_data & ~np.isnan(win.values)
    masked = np.where(numbers, win.values, -np.inf)
    y = np.maximum(masked.max(axis=(-2, -1)), start)
    return windows.from_nchw(y, data_format)


def judge(example: checks.Example, *, neg_inf_dtypes=(), either_start_dtypes=()) -> list:
    case = example.case
    if case.kind != "max":
        raise NotModelled(f"model {NAME!r} models max pooling, not {case.kind}")
    lowest = -dtypes.largest(case.dtype)
    kw = dict(padding=case.padding, ceil_mode=case.ceil_mode, data_format=case.data_format)
    expected = max_pool_skipping_nan(example.inputs, case.window, case.stride,
                                     start=-np.inf if case.dtype in neg_inf_dtypes else lowest, **kw)
    if case.dtype in either_start_dtypes:  # where the two starts differ, the one the framework gave
        other = max_pool_skipping_nan(example.inputs, case.window, case.stride, start=-np.inf, **kw)
        expected = np.where(np.asarray(example.outputs["y"]) == other, other, expected)
    return [compare(example.outputs["y"], expected, np.zeros_like(expected), dtype=case.dtype, name="y")]
