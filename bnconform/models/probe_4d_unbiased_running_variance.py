"""probe_4d_unbiased_running_variance: the fingerprint's 4-D probe reads an unbiased moving variance
(a reference model of the ``conventions`` property).

Mechanism: tf_keras's default BatchNormalization takes TensorFlow's fused kernel for a 4-D input on
axis 1 or 3, which feeds the moving average the Bessel-corrected batch variance
(``unbiased_moving_variance``; tensorflow/tensorflow#55545), while the 2-D probe takes the non-fused
path and reads the documented biased variance. The model predicts every probe as the adapter
declares it, except the 4-D running-variance probe: unbiased (reading 1.0 for momentum 0.5 from 0 on
a batch {-1, 1}). Any other disagreement stays a failure.
"""

from __future__ import annotations

from .. import checks

NAME = "probe_4d_unbiased_running_variance"
REPLACES = "reference"
CHECKS = (checks.CONVENTIONS,)
PARAMS: dict = {}


def judge(example: checks.Example) -> list:
    expected = checks.conventions_expected(example.extra["declared"])
    expected["running_variance_4d"] = (checks.RUNNING_VARIANCE_READING["unbiased"], checks.PROBE_TOLERANCE)
    return checks.judge_conventions_against(example, expected)
