"""masked_count_epsilon: masked batch-norm statistics divided by the count plus a small constant (a
reference model).

Mechanism: Keras 3's ``BatchNormalization._moments`` with a mask (keras/src/layers/normalization/
batch_normalization.py, 3.9.0 to 3.15.1) guards the division by the number of unmasked values W with
``backend.epsilon()`` (``keras.config.epsilon()``, 1e-7 by default):

    mean = sum_i w_i x_i / (W + epsilon)
    var  = sum_i w_i (x_i - mean)^2 / (W + epsilon)

instead of the weighted moments' / W; y is normalized with these and the moving statistics are
updated from them. A relative change of epsilon / W: under float32's unit roundoff for W >= 2, far
beyond float64's (float64 masked examples fail the reference by 1e6 times their tolerance and agree
with this model). Tolerance: the standard masked bound.
"""

from __future__ import annotations

import numpy as np

from bnconform import reference as R
from bnconform.reference import batch_norm as _bn

from .. import masked_checks
from . import Param

NAME = "masked_count_epsilon"
REPLACES = "reference"
CHECKS = (masked_checks.BN_MASKED,)
PARAMS = {"epsilon": Param("the constant added to the count of unmasked values (keras.config.epsilon())",
                           lambda v: isinstance(v, float) and 0.0 < v < 1e-2, "a float in (0, 0.01)", 1e-7)}


def moments_with(epsilon: float):
    """``R.batch_stats`` of the unmasked values with each sum divided by count + ``epsilon``."""

    def moments(values, axis):
        stats = R.batch_stats(values, axis)
        count = stats.count
        axes = _bn.reduction_axes(np.ndim(values), axis % np.ndim(values))
        mean = np.sum(values, axis=axes) / (count + epsilon)
        centred = values - _bn.broadcast(mean, np.ndim(values), axis % np.ndim(values))
        return R.BatchStats(mean, np.sum(np.square(centred), axis=axes) / (count + epsilon), count)

    return moments


def judge(example, *, epsilon: float) -> list:
    return masked_checks.judge_bn_masked(example, moments=moments_with(epsilon))
