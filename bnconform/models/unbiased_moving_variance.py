"""unbiased_moving_variance: the moving variance fed the unbiased batch variance (a reference model).

Mechanism: tf_keras's BatchNormalization takes TensorFlow's fused kernel for 4-D inputs with axis 1
or 3 in float16/bfloat16/float32 (the default ``fused=None``). ``tf.compat.v1.nn.fused_batch_norm``
returns the batch variance with Bessel's correction, ``var * m / max(m - 1, 1)``
(``FusedBatchNormOp``), and the layer feeds it to the moving average as is
(``_bessels_correction_test_only = True``), while Keras documents, and the non-fused path uses, the
biased variance (tensorflow/tensorflow#55545):

    moving_var <- momentum * moving_var + (1 - momentum) * var * m / max(m - 1, 1)

The moving mean is unchanged. Tolerance: the standard moving-statistics bound with the unbiased
scale (``tolerance.moving_stats(unbiased=True)``).
"""

from __future__ import annotations

from bnconform import reference as R

from .. import checks

NAME = "unbiased_moving_variance"
REPLACES = "reference"
CHECKS = (checks.BN_MOVING_STATS, checks.BN_CALL_SEQUENCE)
PARAMS: dict = {}


def unbiased_states(case, inputs, convention: str) -> list[R.MovingStats]:
    """The moving statistics after each step with the variance scaled by m / max(m - 1, 1)."""
    mean, var = inputs.moving_mean, inputs.moving_var
    weights = checks.moving_weights(case, convention, len(inputs.xs))
    states = []
    for x, a in zip(inputs.xs, weights):
        stats = R.batch_stats(x, case.axis)
        m = stats.count
        mean = a * mean + (1.0 - a) * stats.mean
        var = a * var + (1.0 - a) * stats.var * (m / max(m - 1, 1))
        states.append(R.MovingStats(mean, var, len(states) + 1))
    return states


def judge(example: checks.Example) -> list:
    if example.check is checks.BN_CALL_SEQUENCE:  # the same update after each training call of a sequence
        return checks.judge_bn_call_sequence(example, moving_states=unbiased_states, unbiased=True)
    states = unbiased_states(example.case, example.inputs, example.convention)
    return checks.judge_moving_stats_against(example, states, unbiased=True)
