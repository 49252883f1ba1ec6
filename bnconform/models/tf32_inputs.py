"""tf32_inputs: a float32 convolution whose inputs are rounded to TF32 before the products (a
reference model).

Mechanism: on NVIDIA GPUs since Ampere, cuDNN and cuBLAS may run float32 convolutions on tensor
cores in TF32 (PyTorch's default ``torch.backends.cudnn.allow_tf32 = True``; JAX's and
TensorFlow's default precision on a GPU): each float32 operand keeps 10 of its 23 mantissa bits
(8 exponent bits, so the range is float32's), the products are exact and summed in float32. So the
layer computes

    y = conv(tf32(x), tf32(w)) + b         instead of    conv(x, w) + b

with ``tf32(v)`` the float32 value v rounded to 10 mantissa bits: to nearest, ties to even
(``rounding = "nearest"``, the default; NVIDIA's float-to-TF32 conversion) or toward zero
(``rounding = "truncate"``, dropping the 13 low bits). Its error against the reference reaches
2^-11 |x||w| per product, which the float32 bound (about 2^-24 K) does not allow; measured on one
H200: 180 of 131,072 outputs of an 8x16x16x64, 3x3x64x64 'same' convolution outside it (worst
err/tol 1.58).

Tolerance: the float32 convolution bound of the rounded inputs' sum (``tolerance.conv2d`` on
tf32(x), tf32(w)): only the float32 accumulation remains to be allowed for.
"""

from __future__ import annotations

import numpy as np

from bnconform import reference as R

from .. import checks, tolerance
from ..compare import compare
from . import Param

NAME = "tf32_inputs"
REPLACES = "reference"
CHECKS = (checks.CONV2D,)
PARAMS = {
    "rounding": Param("how float32 inputs become TF32", lambda v: v in ("nearest", "truncate"),
                      '"nearest" or "truncate"', "nearest"),
}

DROPPED_BITS = 23 - 10  # float32 mantissa bits TF32 does not keep


def to_tf32(values, rounding: str = "nearest") -> np.ndarray:
    """``values`` (float32-representable) rounded to TF32, as float64. Non-finite values stay."""
    v = np.asarray(values, np.float64).astype(np.float32)
    bits = v.view(np.uint32).astype(np.uint64)
    if rounding == "nearest":  # add half an ulp of TF32, minus one unless the kept last bit is odd
        bits = bits + ((1 << (DROPPED_BITS - 1)) - 1) + ((bits >> DROPPED_BITS) & 1)
    bits = bits & ~np.uint64((1 << DROPPED_BITS) - 1)
    out = (bits & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.float32).astype(np.float64)
    return np.where(np.isfinite(v), out, v.astype(np.float64))


def judge(example: checks.Example, *, rounding: str = "nearest") -> list:
    case, inputs = example.case, example.inputs
    if case.dtype != "float32":  # TF32 replaces float32 math only
        return checks.judge_conv2d(example)
    kwargs = case.conv_kwargs()
    x, w = to_tf32(inputs.x, rounding), to_tf32(inputs.w, rounding)
    y = R.conv2d(x, w, inputs.b, **kwargs)
    tol = tolerance.conv2d(x, w, inputs.b, y, dtype=case.dtype, **kwargs)
    return [compare(example.outputs["y"], y, tol, dtype=case.dtype, name="y")]
