"""The masked check and its two models (``masked_count_epsilon``, ``mask_ignored``) on outputs written
in NumPy, without a framework: each model explains the outputs computed its way and no others, and
the reference's masked judgement passes the reference's own outputs and rejects the count of
keras-team/keras#19848 (the mask counted before it is broadcast)."""

from __future__ import annotations

import numpy as np
import pytest

from bnconform import cases as C
from bnconform import masked_checks, models
from bnconform import reference as R
from bnconform.checks import Example
from bnconform.reference.masked import broadcast_mask, unmasked_values

CASE = C.BNCase(shape=(6, 5, 4), axis=-1, dtype="float64", eps=1e-3, momentum=0.9, steps=2,
                x=C.Values(seed=3, loc=0.5, scale=1.5), params_seed=4, mask=(6, 1))


def _outputs(stats_of, case=CASE):
    """y of the last batch and the moving statistics after every batch, with ``stats_of(x, mask)`` ->
    (mean, biased variance, count)."""
    inputs = C.materialize_bn(case)
    mean, var = inputs.moving_mean, inputs.moving_var
    for x in inputs.xs:
        mu, v, _ = stats_of(x, inputs.mask)
        mean, var = 0.9 * mean + 0.1 * mu, 0.9 * var + 0.1 * v
    y = R.normalize(inputs.xs[-1], mu, v, inputs.gamma, inputs.beta, case.eps, case.axis)
    return inputs, {"y": y, "moving_mean": mean, "moving_var": var}


def _weighted(x, mask, *, count_before_broadcast=False, epsilon=0.0):
    w = broadcast_mask(mask, x.shape, -1).astype(float)
    count = w.sum(axis=(0, 1))
    if count_before_broadcast:  # keras 3.0.2 to 3.8.0: sum(expand_dims(mask, -1)) over the reduction axes
        count = np.full_like(count, np.expand_dims(mask, -1).astype(float).sum())
    mean = (w * x).sum(axis=(0, 1)) / (count + epsilon)
    var = (w * np.square(x - mean)).sum(axis=(0, 1)) / (count + epsilon)
    return mean, var, count


def _example(outputs_and_inputs):
    inputs, outputs = outputs_and_inputs
    return Example("bn_masked", CASE, inputs, "train", outputs, convention="keras")


def test_the_masked_statistics_are_the_weighted_moments():
    x = C.materialize_bn(CASE).xs[0]
    mask = C.mask_of(CASE)
    stats = R.batch_stats(unmasked_values(x, mask, -1), -1)
    mean, var, count = _weighted(x, mask)
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-14)
    np.testing.assert_allclose(stats.var, var, rtol=1e-13)
    assert stats.count == count[0]


def test_the_reference_outputs_pass_and_the_count_of_keras_19848_fails():
    assert all(c.ok for c in masked_checks.judge_bn_masked(_example(_outputs(_weighted))))
    wrong = _outputs(lambda x, m: _weighted(x, m, count_before_broadcast=True))
    assert not all(c.ok for c in masked_checks.judge_bn_masked(_example(wrong)))


def test_the_count_plus_epsilon_fails_float64_and_its_model_explains_it():
    keras = _example(_outputs(lambda x, m: _weighted(x, m, epsilon=1e-7)))
    assert not all(c.ok for c in masked_checks.judge_bn_masked(keras))
    assert all(c.ok for c in models.judge("masked_count_epsilon", {"epsilon": 1e-7}, keras))
    other = _example(_outputs(lambda x, m: _weighted(x, m, epsilon=1e-5)))
    assert not all(c.ok for c in models.judge("masked_count_epsilon", {"epsilon": 1e-7}, other))


@pytest.mark.parametrize("unbiased", [False, True])
def test_a_dropped_mask_is_explained_by_mask_ignored_only(unbiased):
    def every_value(x, mask):
        s = R.batch_stats(x, -1)
        return s.mean, s.var * (s.count / (s.count - 1)) if unbiased else s.var, s.count

    inputs, outputs = _outputs(every_value)
    # y is normalized with the biased variance whatever the moving average is fed
    last = R.batch_stats(inputs.xs[-1], -1)
    outputs["y"] = R.normalize(inputs.xs[-1], last.mean, last.var, inputs.gamma, inputs.beta, CASE.eps, CASE.axis)
    dropped = _example((inputs, outputs))
    assert not all(c.ok for c in masked_checks.judge_bn_masked(dropped))
    params = {"unbiased_moving_variance": unbiased}
    assert all(c.ok for c in models.judge("mask_ignored", params, dropped))
    wrong = {"unbiased_moving_variance": not unbiased}
    assert not all(c.ok for c in models.judge("mask_ignored", wrong, dropped))


def test_a_mask_that_does_not_broadcast_is_refused_with_both_shapes():
    with pytest.raises(ValueError, match=r"mask: shape \(6, 2\) does not broadcast against x's shape \(6, 5, 4\)"):
        C.mask_of(C.BNCase(shape=(6, 5, 4), axis=-1, mask=(6, 2)))
    with pytest.raises(ValueError, match="every position is masked"):
        unmasked_values(np.ones((3, 2)), np.zeros(3, bool), -1)
