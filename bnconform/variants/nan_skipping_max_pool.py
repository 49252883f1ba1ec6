"""nan_skipping_max_pool: max pooling that skips NaN (a reference variant).

Mechanism: TensorFlow's CPU MaxPool (``tf.nn.max_pool``, which Keras's tensorflow backend and
tf_keras call) starts each window at the dtype's lowest finite value and keeps ``if (v > max) max
= v`` (Eigen's ``MaxReducer``); a comparison with NaN is false, so a NaN beside numbers is skipped,
and so is -inf (it is not greater than the lowest finite value): a window whose only values are NaN
or -inf gives the lowest finite value of the dtype (-3.4028235e38 in float32, -65504 in float16).
In the dtypes listed in ``neg_inf_dtypes`` and the layouts in ``neg_inf_data_formats`` the kernel
starts at -inf instead, so such a window gives -inf (TF 2.21 on CPU: the NHWC bfloat16 kernel, which
Keras 3 always reaches since it transposes channels_first; tf_keras passes channels_first to the
NCHW bfloat16 kernel, which starts at the lowest finite value). In short y = max(start, max of the window's non-NaN values). Padding is not
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

DATA_FORMATS = ("channels_last", "channels_first")

NAME = "nan_skipping_max_pool"
KIND = "reference"
PROPERTIES = ("pool2d", "pool2d_nonfinite")
PARAMS = {
    "neg_inf_dtypes": Param("dtypes in which a window without numbers gives -inf instead of the lowest "
                            "finite value", is_dtype_list, "a list of dtype names", []),
    "neg_inf_data_formats": Param("the layouts in which neg_inf_dtypes apply",
                                  lambda v: isinstance(v, list) and all(f in DATA_FORMATS for f in v),
                                  f"a list of {', '.join(DATA_FORMATS)}", list(DATA_FORMATS)),
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


def judge(example: checks.Example, *, neg_inf_dtypes=(), neg_inf_data_formats=DATA_FORMATS) -> list:
    case = example.case
    if case.kind != "max":
        raise NotModelled(f"model {NAME!r} models max pooling, not {case.kind}")
    neg_inf = case.dtype in neg_inf_dtypes and case.data_format in neg_inf_data_formats
    start = -np.inf if neg_inf else -dtypes.largest(case.dtype)
    expected = max_pool_skipping_nan(example.inputs, case.window, case.stride, padding=case.padding,
                                     ceil_mode=case.ceil_mode, data_format=case.data_format, start=start)
    return [compare(example.outputs["y"], expected, np.zeros_like(expected), dtype=case.dtype, name="y")]
