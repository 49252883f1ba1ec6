"""Batch norm, forward and backward: the vectorized reference agrees with the naive loops of ``naive.py``.

Forward (Ioffe and Szegedy 2015, Algorithm 1): mu_B = (1/m) sum x_i, sigma_B^2 = (1/m) sum (x_i - mu_B)^2,
y = gamma (x - mu_B) / sqrt(sigma_B^2 + eps) + beta; inference replaces mu_B, sigma_B^2 by the moving
statistics. Backward: the paper's chain rule (Section 3) in ``naive``, against the reference's collapsed
dx = (gamma / sigma) (dy - mean(dy) - x_hat mean(dy x_hat)); inference dx = gamma dy / sigma.
Tolerances: ``tol64`` (float64 roundoff times reduction length times the magnitudes).
"""

from __future__ import annotations

from hypothesis import given, settings

import gen64
import naive
from bnconform import reference as ref
import tol64


def check_train_forward(case: gen64.BNCase) -> None:
    """y, mu_B and sigma_B^2 (biased) of training mode, element by element."""
    out = ref.batch_norm_train(case.x, case.gamma, case.beta, eps=case.eps, axis=case.axis)
    y = naive.batch_norm_train(case.x, case.gamma, case.beta, case.eps, case.axis)
    mu, var, _ = naive.batch_moments(case.x, case.axis)
    tol_mean, tol_var = tol64.batch_stats(case.x, case.axis)
    tol64.assert_close(out.mean, mu, tol_mean, "batch mean")
    tol64.assert_close(out.var, var, tol_var, "batch variance (biased)")
    tol64.assert_close(out.y, y, tol64.bn_train_y(case.x, case.gamma, case.beta, case.eps, case.axis), "y")


def check_inference_forward(case: gen64.BNCase) -> None:
    """y = gamma (x - moving_mean) / sqrt(moving_var + eps) + beta."""
    args = (case.x, case.gamma, case.beta, case.moving_mean, case.moving_var)
    y = ref.batch_norm_inference(*args, eps=case.eps, axis=case.axis)
    tol = tol64.bn_inference_y(*args, case.eps, case.axis)
    tol64.assert_close(y, naive.batch_norm_inference(*args, case.eps, case.axis), tol, "y (inference)")


def check_train_backward(case: gen64.BNCase) -> None:
    """dx, dgamma, dbeta of training mode against the paper's chain rule."""
    grads = ref.batch_norm_train_backward(case.dy, case.x, case.gamma, eps=case.eps, axis=case.axis)
    dx, dgamma, dbeta = naive.batch_norm_train_backward(case.dy, case.x, case.gamma, case.eps, case.axis)
    tol_dx, tol_dgamma, tol_dbeta = tol64.bn_train_grads(case.dy, case.x, case.gamma, case.eps, case.axis)
    tol64.assert_close(grads.dx, dx, tol_dx, "dx")
    tol64.assert_close(grads.dgamma, dgamma, tol_dgamma, "dgamma")
    tol64.assert_close(grads.dbeta, dbeta, tol_dbeta, "dbeta")


def check_inference_backward(case: gen64.BNCase) -> None:
    """dx = gamma dy / sqrt(moving_var + eps); dgamma = sum dy x_hat; dbeta = sum dy."""
    stats = (case.moving_mean, case.moving_var)
    grads = ref.batch_norm_inference_backward(case.dy, case.x, case.gamma, *stats, eps=case.eps, axis=case.axis)
    dx, dgamma, dbeta = naive.batch_norm_inference_backward(case.dy, case.x, case.gamma, *stats, case.eps, case.axis)
    tols = tol64.bn_inference_grads(case.dy, case.x, case.gamma, *stats, case.eps, case.axis)
    tol64.assert_close(grads.dx, dx, tols[0], "dx (inference)")
    tol64.assert_close(grads.dgamma, dgamma, tols[1], "dgamma (inference)")
    tol64.assert_close(grads.dbeta, dbeta, tols[2], "dbeta (inference)")


CASES = gen64.bn_cases()

@settings(deadline=None)
@given(CASES)
def test_train_forward_matches_naive(case):
    check_train_forward(case)


@settings(deadline=None)
@given(CASES)
def test_inference_forward_matches_naive(case):
    check_inference_forward(case)


@settings(deadline=None)
@given(CASES)
def test_train_backward_matches_naive(case):
    check_train_backward(case)


@settings(deadline=None)
@given(CASES)
def test_inference_backward_matches_naive(case):
    check_inference_backward(case)
