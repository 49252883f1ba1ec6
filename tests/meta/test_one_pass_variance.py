"""The tolerance model catches a batch norm whose variance is computed in one pass, E[x^2] - E[x]^2.

The mutant is written here in float32 NumPy, beside the correct two-pass computation, and both outputs
are judged by the suite's own ``checks.judge`` (the worst-case model and the statistical tier).

Why these inputs are ill-conditioned: x = L + z, z standard normal, |L| / std = kappa = 1e3 or 1e4.
E[x^2] and E[x]^2 are then both about L^2 and agree in all but their last ~log10(kappa^2) digits; each is
rounded in float32 (u = 2^-24 ~ 6e-8), so their difference, the variance (~1), carries an error of about
kappa^2 u = 0.06 (kappa = 1e3) to 6 (kappa = 1e4) -- relative to the variance itself (Chan, Golub and
LeVeque 1983). sigma = sqrt(var + eps) is then off by ~3% or more, and y = gamma (x - mean) / sigma + beta
with it. The two-pass algorithm subtracts the mean first; the model's bound on its variance error
(``tolerance.batch_stat_errors``: gamma_m times var + 2 mean(|x - mu| |x|), ~ 2 m kappa u with m = 64)
is 8e-3 (kappa = 1e3) to 8e-2 (kappa = 1e4) of the variance, kappa / 2m = 8 to 80 times less than the
one-pass error: the model allows the one and not the other. (Measured: the one-pass output lies 9 to
55 tolerances out at kappa = 1e3 and ~3e3 at 1e4, in 156 to 250 of 256 elements; the two-pass output
within 0.01 to 0.02 of its tolerance.)
"""

from __future__ import annotations

import numpy as np
import pytest

from bnconform import cases, checks, tolerance
from bnconform.bounds import bn_forward

F32 = np.float32


def batch_norm_float32(x, gamma, beta, eps: float, *, one_pass: bool) -> np.ndarray:
    """Training-mode batch norm over axis 0 of a 2-D batch, every step in float32."""
    x = x.astype(F32)
    mean = x.mean(axis=0, dtype=F32)
    if one_pass:
        var = np.maximum((x * x).mean(axis=0, dtype=F32) - mean * mean, F32(0))  # clamped, as Flax does
    else:
        var = np.square(x - mean).mean(axis=0, dtype=F32)
    y = (x - mean) / np.sqrt(var + F32(eps)) * gamma.astype(F32) + beta.astype(F32)
    return y.astype(np.float64)


def example(kappa: float, seed: int, one_pass: bool, m: int = 64) -> checks.Example:
    case = cases.BNCase(shape=(m, 4), axis=1, dtype="float32", eps=1e-5, momentum=0.9,
                        x=cases.Values(seed=seed, dist="normal", loc=kappa * (-1) ** seed, scale=1.0), params_seed=seed)
    inputs = cases.materialize_bn(case)
    y = batch_norm_float32(inputs.xs[-1], inputs.gamma, inputs.beta, case.eps, one_pass=one_pass)
    return checks.Example("bn_forward", case, inputs, "train", {"y": y})


CASES = [pytest.param(kappa, seed, id=f"kappa={kappa:g}-seed={seed}") for kappa in (1e3, 1e4) for seed in range(3)]


@pytest.mark.parametrize("kappa, seed", CASES)
def test_two_pass_float32_passes(kappa, seed):
    [result] = checks.judge(example(kappa, seed, one_pass=False))
    assert result.ok, result.message()


@pytest.mark.parametrize("kappa, seed", CASES)
def test_one_pass_float32_fails(kappa, seed):
    ex = example(kappa, seed, one_pass=True)
    [result] = checks.judge(ex)
    assert not result.ok, f"the one-pass variance passed: {result.message()}"
    assert result.n_mismatch > 0  # by the worst-case bound itself, not only the statistical tier
    # the error is of the predicted size: kappa^2 u relative to the variance, half that relative to sigma
    x = ex.inputs.xs[-1]
    var = x.var(axis=0)
    var32 = np.maximum((x.astype(F32) ** 2).mean(axis=0, dtype=F32) - x.astype(F32).mean(axis=0, dtype=F32) ** 2, 0)
    relative = np.max(np.abs(var32 - var) / var)
    predicted = kappa**2 * 2.0**-24
    assert 0.01 * predicted < relative < 100 * predicted, (relative, predicted)


@pytest.mark.parametrize("kappa, seed", CASES)
def test_the_one_pass_bound_of_the_model_explains_the_mutant(kappa, seed):
    """And the model's own one-pass term (``Numerics(variance="one-pass")``, the ``one_pass_variance``
    known deviation's variant) does bound what the mutant computes: the catch is the two-pass model's."""
    [result] = checks.judge(example(kappa, seed, one_pass=True), numerics=tolerance.Numerics(variance="one-pass"))
    assert result.ok, result.message()


def test_a_model_that_always_allows_one_pass_misses_the_mutant(monkeypatch):
    """The catch is the tolerance's: a model that always bounds the variance as one-pass lets every element
    through (the statistical tier still flags the per-feature scale, so what fails is ``n_mismatch > 0``)."""
    monkeypatch.setattr(bn_forward, "one_pass", lambda numerics: True)
    with pytest.raises(AssertionError, match="n_mismatch"):
        test_one_pass_float32_fails(1e3, 0)
