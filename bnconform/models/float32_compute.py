"""float32_compute: a float64 layer that computes in float32 (a tolerance model).

Mechanism: Keras 3 takes ``compute_dtype = backend.result_type(inputs.dtype, "float32")`` in
``BatchNormalization.call`` and computes ``ops.mean`` in ``result_type(x.dtype, "float32")``; its type
promotion maps float64 to float32 on every backend but tensorflow (``BIT64_TO_BIT32_DTYPE`` in
``keras/src/backend/common/dtypes.py``, "to be aligned with JAX's default behavior"), even with
``jax_enable_x64``. The result comes back as float64 carrying float32 rounding.

The model keeps the reference's math (two-pass statistics) and evaluates the tolerance model with
float32's roundoff (accumulation, element-wise arithmetic and stored intermediates, underflow floor).
"""

from __future__ import annotations

from .. import checks, tolerance
from ._common import BN_STATISTICS_CHECKS

NAME = "float32_compute"
REPLACES = "tolerance"
CHECKS = BN_STATISTICS_CHECKS + (checks.POOL2D,)
PARAMS: dict = {}


def judge(example: checks.Example) -> list:
    return checks.judge(example, numerics=tolerance.Numerics(roundoff=tolerance.roundoff("float32")))
