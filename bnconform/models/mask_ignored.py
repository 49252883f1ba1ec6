"""mask_ignored: a batch-norm layer that drops the mask it is given (a reference model).

Mechanism: tf_keras's ``BatchNormalization`` takes TensorFlow's fused kernel for 4-D inputs with
axis 1 or 3 in float16/bfloat16/float32 (the default ``fused=None``); ``_fused_batch_norm`` has no
mask argument and logs "For the moment `mask` will be ignored" (tf_keras/src/layers/normalization/
batch_normalization.py), so the training statistics are those of every value, masked or not:

    mu_B = mean(x),  sigma_B^2 = mean((x - mu_B)^2)          (all m values, not the W unmasked)

y is normalized with them and the moving statistics are updated from them; the fused kernel feeds
the moving average the variance with Bessel's correction (``unbiased_moving_variance``, see the
``unbiased_moving_variance`` model). Tolerance: the standard masked bound with every value reduced.
"""

from __future__ import annotations

from .. import masked_checks
from . import Param

NAME = "mask_ignored"
REPLACES = "reference"
CHECKS = (masked_checks.BN_MASKED,)
PARAMS = {"unbiased_moving_variance": Param("whether the moving average is fed the batch variance times m / (m - 1)",
                                            lambda v: isinstance(v, bool), "true or false", False)}


def _every_value(x, mask, axis):
    return x


def judge(example, *, unbiased_moving_variance: bool) -> list:
    return masked_checks.judge_bn_masked(example, values=_every_value, unbiased=unbiased_moving_variance)
