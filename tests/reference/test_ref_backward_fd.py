"""Batch norm backward: the analytic gradients agree with central finite differences of the forward pass.

For each feature c, L_c = sum_{j in c} dy_j y_j (so dL_c / dx_i = dx_i for x_i in feature c, and
dL_c / dgamma_c = dgamma_c, dL_c / dbeta_c = dbeta_c). D(h) = (L(x + h e_i) - L(x - h e_i)) / 2h with
h = cbrt(u) * scale, the scale being sigma_c = sqrt(var_c + eps) for x (training: the batch variance;
inference: the moving variance) and 1 + |gamma_c|, 1 + |beta_c| for the parameters. The error model
(truncation h^2/6 |L'''| + roundoff e_f / h) is written down once, in ``tol64`` (section "central
differences"); L is linear in gamma and beta, and in x in inference mode, so L''' = 0 there.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings

import gen64
from bnconform import reference as ref
import tol64


def _feature_sum(values: np.ndarray, axis: int, c: int) -> float:
    """sum over feature c, correctly rounded (math.fsum)."""
    return math.fsum(np.take(values, c, axis=axis).ravel())


def _central_difference(f, x0: float, h: float) -> tuple[float, float]:
    """(D, h_actual): the steps are made exact first (x0 + h and x0 - h as stored, divided by their
    stored difference)."""
    xp, xm = x0 + h, x0 - h
    step = xp - xm
    return (f(xp) - f(xm)) / step, step / 2



def check_train_fd(case: gen64.BNCase) -> None:
    """dx, dgamma, dbeta of training mode (mu_B and sigma_B^2 depend on x) against central differences."""
    x, dy, axis = case.x, case.dy, case.axis % case.x.ndim
    grads = ref.batch_norm_train_backward(dy, x, case.gamma, eps=case.eps, axis=case.axis)
    axes = tuple(a for a in range(x.ndim) if a != axis)
    sigma = np.sqrt(x.var(axis=axes) + case.eps)
    tol_dx, tol_dgamma, tol_dbeta = tol64.bn_train_grads(dy, x, case.gamma, case.eps, case.axis)
    third = tol64.bn_train_fd_third_derivative(dy, x, case.gamma, case.eps, case.axis)
    f_err = tol64.bn_train_loss_error(dy, x, case.gamma, case.beta, case.eps, case.axis)

    def loss(xv, gamma, beta, c):
        y = ref.batch_norm_train(xv, gamma, beta, eps=case.eps, axis=case.axis).y
        return _feature_sum(dy * y, axis, c)

    for idx in np.ndindex(x.shape):
        c = idx[axis]

        def f(v, idx=idx, c=c):
            xv = x.copy()
            xv[idx] = v
            return loss(xv, case.gamma, case.beta, c)

        d, h = _central_difference(f, float(x[idx]), float(tol64.fd_step(sigma[c])))
        tol = tol64.fd_tolerance(h, third[idx], f_err[c], tol_dx[idx])
        tol64.assert_close(d, grads.dx[idx], tol, f"dx{idx} vs central difference (h={h:.3g})")

    for c in range(case.c):
        for name, params, analytic, tol_an in (
            ("gamma", case.gamma, grads.dgamma, tol_dgamma),
            ("beta", case.beta, grads.dbeta, tol_dbeta),
        ):
            def f(v, c=c, name=name, params=params):
                p = params.copy()
                p[c] = v
                return loss(x, p, case.beta, c) if name == "gamma" else loss(x, case.gamma, p, c)

            d, h = _central_difference(f, float(params[c]), float(tol64.fd_step(1 + abs(params[c]))))
            tol = tol64.fd_tolerance(h, 0.0, f_err[c], tol_an[c])
            tol64.assert_close(d, analytic[c], tol, f"d{name}[{c}] vs central difference (h={h:.3g})")


def check_inference_fd(case: gen64.BNCase) -> None:
    """dx, dgamma, dbeta of inference mode (constant statistics): L is linear in x, gamma and beta."""
    x, dy, axis = case.x, case.dy, case.axis % case.x.ndim
    stats = (case.moving_mean, case.moving_var)
    grads = ref.batch_norm_inference_backward(dy, x, case.gamma, *stats, eps=case.eps, axis=case.axis)
    sigma = np.sqrt(case.moving_var + case.eps)
    tols = tol64.bn_inference_grads(dy, x, case.gamma, *stats, case.eps, case.axis)
    f_err = tol64.bn_inference_loss_error(dy, x, case.gamma, case.beta, *stats, case.eps, case.axis)

    def loss(xv, gamma, beta, c):
        y = ref.batch_norm_inference(xv, gamma, beta, *stats, eps=case.eps, axis=case.axis)
        return _feature_sum(dy * y, axis, c)

    for idx in np.ndindex(x.shape):
        c = idx[axis]

        def f(v, idx=idx, c=c):
            xv = x.copy()
            xv[idx] = v
            return loss(xv, case.gamma, case.beta, c)

        d, h = _central_difference(f, float(x[idx]), float(tol64.fd_step(sigma[c])))
        tol64.assert_close(d, grads.dx[idx], tol64.fd_tolerance(h, 0.0, f_err[c], tols[0][idx]),
                           f"dx{idx} (inference) vs central difference")
    for c in range(case.c):
        for name, params, analytic, tol_an in (
            ("gamma", case.gamma, grads.dgamma, tols[1]),
            ("beta", case.beta, grads.dbeta, tols[2]),
        ):
            def f(v, c=c, name=name, params=params):
                p = params.copy()
                p[c] = v
                return loss(x, p, case.beta, c) if name == "gamma" else loss(x, case.gamma, p, c)

            d, h = _central_difference(f, float(params[c]), float(tol64.fd_step(1 + abs(params[c]))))
            tol64.assert_close(d, analytic[c], tol64.fd_tolerance(h, 0.0, f_err[c], tol_an[c]),
                               f"d{name}[{c}] (inference) vs central difference")


CASES = gen64.bn_cases(max_side=3)  # every element is perturbed: keep arrays small

@settings(deadline=None)
@given(CASES)
def test_train_backward_matches_central_differences(case):
    check_train_fd(case)


@settings(deadline=None)
@given(CASES)
def test_inference_backward_matches_central_differences(case):
    check_inference_fd(case)
