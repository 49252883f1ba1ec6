"""momentum_rounded: the moving average's weights rounded to a lower precision (a reference model).

Mechanism: tf_keras's non-fused update (``_assign_moving_average`` in
``tf_keras/src/layers/normalization/batch_normalization.py``) computes
``decay = tf.convert_to_tensor(1.0 - momentum)`` -- a float32 tensor -- and casts it to the
variable's dtype, so a float64 layer's moving statistics use 1 - momentum rounded to float32:

    new = old - (old - batch) * round_float32(1 - momentum)

(relative ~1e-9 from the float64 reference, far beyond float64's bound). The model computes that
update in float64 with the decay rounded to ``dtype``; tolerance: the standard moving-statistics
bound.
"""

from __future__ import annotations

import numpy as np

from bnconform import reference as R

from .. import checks, dtypes, masked_checks, synchronized_checks, tolerance
from . import NotModelled, Param
from ._common import DTYPE_WORDS, is_dtype

NAME = "momentum_rounded"
REPLACES = "reference"
CHECKS = (checks.BN_MOVING_STATS, checks.BN_CALL_SEQUENCE, masked_checks.BN_MASKED,
          synchronized_checks.BN_SYNCHRONIZED)
PARAMS = {"dtype": Param("the precision 1 - momentum is rounded to", is_dtype, DTYPE_WORDS, "float32"),
          "one_pass": Param("whether the batch variance is also taken in one pass, E[x^2] - E[x]^2 (the tolerance "
                            "model's one-pass term; a synchronized layer's moments)", lambda v: isinstance(v, bool),
                            "true or false", False)}


def rounded_decay_states(case, inputs, convention: str, dtype: str) -> list[R.MovingStats]:
    if case.momentum is None or convention != "keras":
        raise NotModelled(f"model {NAME!r} models the Keras update with a momentum")
    decay = float(dtypes.round_to(1.0 - case.momentum, dtype))
    mean, var = np.asarray(inputs.moving_mean, np.float64), np.asarray(inputs.moving_var, np.float64)
    states = []
    for x in inputs.xs:
        stats = R.batch_stats(x, case.axis)
        mean = mean - (mean - stats.mean) * decay
        var = var - (var - stats.var) * decay
        states.append(R.MovingStats(mean, var, len(states) + 1))
    return states


def judge(example: checks.Example, *, dtype: str = "float32", one_pass: bool = False) -> list:
    if example.check is synchronized_checks.BN_SYNCHRONIZED:  # y and gradients as they are, the update rounded
        numerics = tolerance.Numerics(variance="one-pass") if one_pass else None
        parts = synchronized_checks.OUTPUTS
        moving = synchronized_checks.part(example, parts["moving"])
        states = rounded_decay_states(example.case, example.inputs, example.convention, dtype)
        return (checks.judge_bn_forward(synchronized_checks.part(example, parts["forward"]), numerics=numerics)
                + checks.judge_bn_backward(synchronized_checks.part(example, parts["backward"]), numerics=numerics)
                + checks.judge_moving_stats_against(moving, states, unbiased=False, numerics=numerics))
    if one_pass:
        raise NotModelled(f"model {NAME!r} with one_pass models the synchronized check only")
    if example.check is masked_checks.BN_MASKED:  # the masked statistics, the same rounded decay
        case = example.case
        if case.momentum is None or example.convention != "keras":
            raise NotModelled(f"model {NAME!r} models the Keras update with a momentum")
        decay = float(dtypes.round_to(1.0 - case.momentum, dtype))
        return masked_checks.judge_bn_masked(example, weights_old=[1.0 - decay] * len(example.inputs.xs))
    if example.check is checks.BN_CALL_SEQUENCE:  # the same update after each training call of a sequence
        def states(case, inputs, convention):
            return rounded_decay_states(case, inputs, convention, dtype)

        return checks.judge_bn_call_sequence(example, moving_states=states, unbiased=False)
    states = rounded_decay_states(example.case, example.inputs, example.convention, dtype)
    return checks.judge_moving_stats_against(example, states, unbiased=False)
