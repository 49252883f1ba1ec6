"""bias_along_last_axis: a channels_first convolution whose bias is added along the last axis (W)
whenever the output width equals the number of filters (a reference model).

Mechanism: Keras's ``Conv2D`` adds ``ops.reshape(bias, (1, C_out, 1, 1))`` to a channels_first
output. On the tensorflow backend ``keras.ops.add`` (``keras/src/backend/tensorflow/numpy.py``,
``add``, since keras-team/keras#20386) rewrites ``x1 + x2`` into ``tf.nn.bias_add`` when ``x2``
squeezes to one dimension whose length equals ``x1.shape[1]`` or ``x1.shape[-1]``, and it picks
``data_format="NHWC"`` whenever ``x1.shape[-1]`` has that length -- whichever axis ``x2`` was laid
along. So with W_out == C_out >= 2 the layer computes

    y[n, c, h, w] = z[n, c, h, w] + b[w]        instead of   z[n, c, h, w] + b[c]

with z the bias-free cross-correlation; in every other case (channels_last, no bias, W_out != C_out,
a single filter) it computes the reference. Only machines whose TensorFlow accepts a channels_first
Conv2D at all reach it (oneDNN's NCHW kernel: float32 and bfloat16 on AVX-512 CPUs here).

Tolerance: the convolution's own bound (``bnconform.tolerance.conv2d`` of the bias-free sum) plus the
bias term of that bound, gamma_{K+1} |b| + u conv(|x|, |w|), with |b| on the axis the bias is added
along.
"""

from __future__ import annotations

import numpy as np

from bnconform import reference as R
from bnconform.reference import conv as _conv

from .. import checks, tolerance
from ..compare import compare

NAME = "bias_along_last_axis"
REPLACES = "reference"
CHECKS = (checks.CONV2D,)
PARAMS: dict = {}


def reaches(case, y_shape) -> bool:
    """Whether the mechanism applies: channels_first, a bias, and W_out == C_out >= 2."""
    return (case.data_format == "channels_first" and case.bias and case.c_out >= 2
            and y_shape[-1] == case.c_out)


def judge(example: checks.Example) -> list:
    case, inputs = example.case, example.inputs
    kwargs = case.conv_kwargs()
    z = R.conv2d(inputs.x, inputs.w, None, **kwargs)
    if not reaches(case, z.shape):
        return checks.judge_conv2d(example)
    b = np.asarray(inputs.b, np.float64).reshape(1, 1, 1, -1)  # along W, not along C
    y = z + b
    r = tolerance.roundoff(case.dtype)
    k = inputs.w.shape[1] * inputs.w.shape[2] * inputs.w.shape[3]
    magnitude = _conv.conv2d(np.abs(inputs.x), np.abs(inputs.w), None, **kwargs)
    tol = tolerance.conv2d(inputs.x, inputs.w, None, y, dtype=case.dtype, **kwargs)
    tol = tol + tolerance.SAFETY * (r.gamma(k + 1) * np.abs(b) + r.out * magnitude)
    return [compare(example.outputs["y"], y, tol, dtype=case.dtype, name="y")]
