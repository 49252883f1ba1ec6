"""Batch norm: metamorphic properties of the forward and backward pass (training mode).

- moments of the output: per feature, mean(y) = beta and var(y) = gamma^2 var / (var + eps), i.e.
  std(y) = |gamma| sqrt(var / (var + eps)) (checked squared, which is smooth at var = 0);
- affine change of the input, per feature x' = a x + b: x_hat' = sign(a) x_hat exactly when eps is scaled
  too (eps' = a^2 eps), so y(x'; eps') = y(x; eps) with gamma -> sign(a) gamma (eps being one scalar, a
  is one number for all features unless eps = 0). With eps unscaled only a shift (a = 1) leaves y
  unchanged; that case is checked separately, with eps as is;
- training output = inference output evaluated at the batch's own statistics;
- backward: sum_i dx_i = 0 (since sum x_hat = 0) and
  sum_i dx_i x_hat_i = (gamma / sigma) dgamma (1 - mean(x_hat^2)) = gamma eps dgamma / sigma^3
  (mean(x_hat^2) = var / (var + eps)), which is 0 only for eps = 0.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import gen64
from bnconform import reference as ref
import tol64


def _stats(x, axis):
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    return axes, x.mean(axis=axes), x.var(axis=axes)


def _along(v, x, axis):
    shape = [1] * x.ndim
    shape[axis % x.ndim] = -1
    return np.asarray(v).reshape(shape)


def check_output_moments(case: gen64.BNCase) -> None:
    y = ref.batch_norm_train(case.x, case.gamma, case.beta, eps=case.eps, axis=case.axis).y
    axes, _, var = _stats(case.x, case.axis)
    tol_mean, tol_var = tol64.bn_output_moments(case.x, case.gamma, case.beta, case.eps, case.axis)
    tol64.assert_close(y.mean(axis=axes), case.beta, tol_mean, "per-feature mean of y vs beta")
    tol64.assert_close(y.var(axis=axes), case.gamma**2 * var / (var + case.eps), tol_var,
                       "per-feature variance of y vs gamma^2 var / (var + eps)")


SCALES = st.sampled_from([1.0, 0.5, 3.0, 1e-2, 1e2, -2.0, -1.0])
SHIFTS = st.sampled_from([0.0, 5.0, -1e3, 0.25])


@st.composite
def affine_cases(draw):
    case = draw(gen64.bn_cases())
    a = np.array([draw(SCALES) for _ in range(case.c)])
    b = np.array([draw(SHIFTS) for _ in range(case.c)])
    return case, a, b


def check_affine_invariance(case_ab) -> None:
    """y(a x + b; a^2 eps, gamma) = y(x; eps, sign(a) gamma), with one a for all features when eps > 0
    (eps is one scalar) and a per-feature a when eps = 0; and y(x + b; eps) = y(x; eps), b per feature."""
    case, a, b = case_ab
    x, axis, eps = case.x, case.axis, case.eps
    y = ref.batch_norm_train(x, case.gamma, case.beta, eps=eps, axis=axis).y
    tol = tol64.bn_train_y(x, case.gamma, case.beta, eps, axis)

    shifted = x + _along(b, x, axis)
    y_shift = ref.batch_norm_train(shifted, case.gamma, case.beta, eps=eps, axis=axis).y
    tol64.assert_close(y_shift, y, tol + tol64.bn_train_y(shifted, case.gamma, case.beta, eps, axis),
                       "y(x + b) vs y(x), eps unchanged")

    scales = a if eps == 0.0 else np.full(case.c, a[0])  # eps is one scalar: one a, unless eps = 0
    moved = _along(scales, x, axis) * x + _along(b, x, axis)
    eps_moved = float(scales[0]) ** 2 * eps
    y_moved = ref.batch_norm_train(moved, case.gamma, case.beta, eps=eps_moved, axis=axis).y
    y_signed = ref.batch_norm_train(x, np.sign(scales) * case.gamma, case.beta, eps=eps, axis=axis).y
    tol64.assert_close(y_moved, y_signed, tol + tol64.bn_train_y(moved, case.gamma, case.beta, eps_moved, axis),
                       f"y(a x + b; a^2 eps) vs y(x; eps) with gamma * sign(a), a = {scales}")


def check_train_is_inference_at_batch_stats(case: gen64.BNCase) -> None:
    _, mean, var = _stats(case.x, case.axis)
    y_train = ref.batch_norm_train(case.x, case.gamma, case.beta, eps=case.eps, axis=case.axis).y
    y_inf = ref.batch_norm_inference(case.x, case.gamma, case.beta, mean, var, eps=case.eps, axis=case.axis)
    tol = (tol64.bn_train_y(case.x, case.gamma, case.beta, case.eps, case.axis)
           + tol64.bn_inference_y(case.x, case.gamma, case.beta, mean, var, case.eps, case.axis))
    tol64.assert_close(y_train, y_inf, tol, "training output vs inference at the batch statistics")


def check_gradient_sums(case: gen64.BNCase) -> None:
    grads = ref.batch_norm_train_backward(case.dy, case.x, case.gamma, eps=case.eps, axis=case.axis)
    axes, mean, var = _stats(case.x, case.axis)
    sigma = np.sqrt(var + case.eps)
    xhat = (case.x - _along(mean, case.x, case.axis)) / _along(sigma, case.x, case.axis)
    tol_sum, tol_dot = tol64.bn_dx_sums(case.dy, case.x, case.gamma, case.eps, case.axis, grads.dx, grads.dgamma)
    c = case.c
    tol64.assert_close(grads.dx.sum(axis=axes), np.zeros(c), tol_sum, "sum over the batch of dx")
    tol64.assert_close((grads.dx * xhat).sum(axis=axes), case.gamma * case.eps * grads.dgamma / sigma**3, tol_dot,
                       "sum over the batch of dx * x_hat vs gamma eps dgamma / sigma^3")


CASES = gen64.bn_cases()
AFFINE_CASES = affine_cases()

@given(CASES)
def test_output_has_mean_beta_and_std_gamma_sqrt_var_over_var_plus_eps(case):
    check_output_moments(case)


@given(AFFINE_CASES)
def test_output_is_invariant_under_affine_change_of_the_input(case_ab):
    check_affine_invariance(case_ab)


@given(CASES)
def test_training_equals_inference_at_the_batch_statistics(case):
    check_train_is_inference_at_batch_stats(case)


@given(CASES)
def test_dx_sums_to_zero_and_is_orthogonal_to_xhat_up_to_eps(case):
    check_gradient_sums(case)
