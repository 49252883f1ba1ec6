"""half_precision_accumulation: reductions accumulated in the half dtype itself (a tolerance model).

Mechanism: the tolerance model assumes float16/bfloat16 reductions accumulate in float32 (what
``jnp.mean``, PyTorch's CPU "opmath" and Keras's explicit upcasts do). Some kernels add in the
input's dtype instead, rounding every partial sum to half precision:

- ``lax.reduce_window(add)`` in the input dtype: ``flax.linen.avg_pool`` and Keras's jax backend
  ``average_pool``;
- TensorFlow's CPU AvgPool for float16 (Eigen's ``AvgPoolMeanReducer<half>``) and ``tf.reduce_mean``
  on float16 (``reduction_ops.h`` gives bfloat16, not float16, a float32 accumulator);
- ``nnx.BatchNorm`` in inference, whose ``promote_dtype`` puts the whole call in the layer dtype, so
  jax.vjp's transpose of the per-feature broadcast reduces dgamma and dbeta in half precision.

The model keeps the reference's math and evaluates the tolerance model with u_acc = the half
dtype's own unit roundoff (Higham's gamma_n for a sum of n terms in that precision).
"""

from __future__ import annotations

from .. import checks, tolerance
from ..dtypes import HALF
from . import NotModelled

NAME = "half_precision_accumulation"
REPLACES = "tolerance"
CHECKS = (checks.BN_BACKWARD, checks.POOL2D)
PARAMS: dict = {}


def judge(example: checks.Example) -> list:
    dtype = example.case.dtype
    if dtype not in HALF:
        raise NotModelled(f"model {NAME!r} models float16/bfloat16 accumulation, not {dtype}")
    r = tolerance.roundoff(dtype, accumulate_in=dtype)
    return checks.judge(example, numerics=tolerance.Numerics(roundoff=r))
