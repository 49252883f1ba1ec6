"""Batch normalization's backward pass (dx, dgamma, dbeta of sum(y dy)): its error terms, once, and both tiers.

With s = gamma / sigma, A = mean(dy), B = mean(dy x_hat) over the m values of a feature and x_hat's
errors from ``batch_stats.x_hat_errors`` (e_mean, rho = rel(sigma), delta_i = ``local``), g(n) the
reduction bound's factor (Higham's gamma_n in the worst-case tier, eq. (3.4); Higham and Mary's
lambda sqrt(n) u in the statistical tier, 2019 Theorem 3.1):

    dbeta  = sum dy             |e| <= g(m) sum|dy|
    dgamma = sum dy x_hat       |e| <= g(m + 1) sum|dy x_hat| + E
    E = (e_mean / sigma) |sum dy| + rho |sum dy x_hat| + own(|dy| delta)

E is what x_hat's own error carries into sum dy x_hat: with x_hat_c = x_hat - e_mean / sigma -
rho x_hat + delta, the shared errors multiply the sum's *value*, not the sum of its absolute terms
(a relative error of sigma is a relative error of dgamma; bounding it by sum |dy| |e_x_hat| grows
like m^2 u and excused a 1-8% error in dgamma at m = 1,000). own(t) is the sum of the elements'
own errors: sum |t| (worst case), lambda sqrt(sum t^2) where x varies (statistical tier).

dx (training) = s (dy - A - x_hat B):

- worst-case tier, element-wise:
      |e| <= |s| [ g(m + 1) mean|dy| + |x_hat| (g(m + 2) mean|dy x_hat| + E_mean)
                   + |e_x_hat| |B| + (3 u + rho) (|dy| + |A| + |x_hat B|) ]
  with E_mean the mean form of E; dx (inference) = s dy, |e| <= |s| |dy| (3 u + rho);
- statistical tier, the exact dx being orthogonal to 1 and to x_hat over each feature, the fit
  e_i = A_e + B_e x_hat_i (``fits.shared_components``) held to
      e_A    <= g(m + 1) mean|dy| + u |A|
      e_B    <= g(m + 2) mean|dy x_hat| + (e_mean / sigma) |A| + (rho + u) |B|
      A_bound = |s| (e_A + (e_mean / sigma) |B| + (3 u + rho) |A|)
      B_bound = |s| (e_B + (3 u + 2 rho) |B|)
      own_i   = |s| ((3 u + rho) (|dy| + |A| + |x_hat B|) + delta_i |B|) + u |dx_i|

dgamma and dbeta are one number per feature: the statistical tier holds each to the same bound as
the worst case with the probabilistic g and own (at m = 16,384 in float32 the worst case allows a
10% error in dgamma).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bnconform.reference import batch_norm as _bn

from . import fits
from .batch_stats import XHatErrors, along, x_hat_errors
from .reduction import PROBABILISTIC, WORST_CASE, ReductionBound, per_feature
from .roundoff import Numerics, finish, one_pass, resolve


class Terms(NamedTuple):
    """What the backward pass's bounds are made of (float64; keepdims per feature)."""

    errors: XHatErrors
    dy: np.ndarray
    axis: int
    axes: tuple
    m: int
    s: np.ndarray  # |gamma| / sigma
    a: np.ndarray  # mean(dy)
    b: np.ndarray  # mean(dy x_hat)
    element: np.ndarray  # (3 u + rho) (|dy| + |A| + |x_hat B|): applying s, subtracting A and x_hat B
    bound: ReductionBound

    def g(self, n, addends) -> np.ndarray:
        """The reduction bound's factor for n terms of ``addends``, keepdims."""
        return along(self.bound.gamma(n, self.errors.r, addends, self.axis), self.dy.ndim, self.axis)


def terms(dy, x, gamma, mean, var, eps: float, axis: int, dtype: str, bound: ReductionBound, *, training: bool,
          numerics: Numerics | None = None) -> Terms:
    r = resolve(dtype, numerics)
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    axis = axis % x.ndim
    axes = _bn.reduction_axes(x.ndim, axis)
    errs = x_hat_errors(x, mean, var, eps, axis, r, bound, training=training, one_pass=one_pass(numerics))
    s = np.abs(_bn.broadcast(np.asarray(gamma, np.float64), x.ndim, axis)) / errs.sigma
    a = dy.mean(axis=axes, keepdims=True)
    b = (dy * errs.x_hat).mean(axis=axes, keepdims=True)
    element = (3.0 * r.out + errs.rho) * (np.abs(dy) + np.abs(a) + np.abs(errs.x_hat * b))
    return Terms(errs, dy, axis, axes, x.size // x.shape[axis], s, a, b, element, bound)


def param_grad_bounds(t: Terms, grads) -> tuple[np.ndarray, np.ndarray]:
    """(dgamma, dbeta) bounds, per feature, with ``t.bound``'s g and own (module docstring), the
    stored result, the safety factor and the floor added (``roundoff.finish``)."""
    e, dy, axes = t.errors, t.dy, t.axes
    dy_x_hat = dy * e.x_hat

    def total(v):
        return v.sum(axis=axes)

    own = t.bound.own_sum(dy * e.local, t.axis, e.varied)
    carried = (e.mean / e.sigma).reshape(-1) * np.abs(total(dy)) + e.rho.reshape(-1) * np.abs(total(dy_x_hat)) + own
    e_dgamma = t.bound.gamma(t.m + 1, e.r, dy_x_hat, t.axis) * total(np.abs(dy_x_hat)) + carried
    e_dbeta = t.bound.gamma(t.m, e.r, dy, t.axis) * total(np.abs(dy))
    # None: a parameter the layer does not have, or a frozen one (no gradient of it to judge)
    return (None if grads.dgamma is None else finish(e_dgamma, grads.dgamma, e.r),
            None if grads.dbeta is None else finish(e_dbeta, grads.dbeta, e.r))


class GradTolerance(NamedTuple):
    dx: np.ndarray
    dgamma: np.ndarray
    dbeta: np.ndarray


def tolerance(dy, x, gamma, mean, var, eps: float, axis: int, dtype: str, *, training: bool, grads,
              numerics: Numerics | None = None) -> GradTolerance:
    """Worst-case tier: element-wise tolerances on dx, dgamma, dbeta (``grads``: the reference's, to
    size the stored results), Higham's gamma_n for every reduction (module docstring)."""
    t = terms(dy, x, gamma, mean, var, eps, axis, dtype, WORST_CASE, training=training, numerics=numerics)
    e = t.errors
    if training:
        carried_mean = (e.mean / e.sigma) * np.abs(t.a) + e.rho * np.abs(t.b) + (
            np.abs(t.dy) * e.local).mean(axis=t.axes, keepdims=True)
        e_b = t.g(t.m + 2, None) * np.abs(t.dy * e.x_hat).mean(axis=t.axes, keepdims=True) + carried_mean
        e_dx = t.s * (t.g(t.m + 1, None) * np.abs(t.dy).mean(axis=t.axes, keepdims=True) + np.abs(e.x_hat) * e_b
                      + e.element * np.abs(t.b) + t.element)
    else:
        e_dx = t.s * np.abs(t.dy) * (3.0 * e.r.out + e.rho)
    dgamma, dbeta = param_grad_bounds(t, grads)
    return GradTolerance(finish(e_dx, grads.dx, e.r), dgamma, dbeta)


def dx_findings(actual, expected, dy, x, gamma, mean, var, eps: float, axis: int, dtype: str) -> fits.Findings:
    """Statistical tier, training dx: the fit e = A_e + B_e x_hat per feature held to A_bound, B_bound
    (module docstring), the floors u rms(dx), and the residual to the own errors."""
    t = terms(dy, x, gamma, mean, var, eps, axis, dtype, PROBABILISTIC, training=True)
    e, u = t.errors, t.errors.r.out
    e_a = t.g(t.m + 1, t.dy) * np.abs(t.dy).mean(axis=t.axes, keepdims=True) + u * np.abs(t.a)
    e_b = (t.g(t.m + 2, t.dy * e.x_hat) * np.abs(t.dy * e.x_hat).mean(axis=t.axes, keepdims=True)
           + e.mean / e.sigma * np.abs(t.a) + (e.rho + u) * np.abs(t.b))
    bound_a = t.s * (e_a + e.mean / e.sigma * np.abs(t.b) + (3.0 * u + e.rho) * np.abs(t.a))
    bound_b = t.s * (e_b + (3.0 * u + 2.0 * e.rho) * np.abs(t.b))
    expected = np.asarray(expected, np.float64)
    floor_a = u * np.sqrt(per_feature(np.square(expected), t.axis).mean(axis=1))
    own = t.s * (t.element + e.local * np.abs(t.b)) + u * np.abs(expected)
    err = np.asarray(actual, np.float64) - expected
    return fits.shared_components(err, e.x_hat, t.axis, bound_a, bound_b, floor_a, floor_a, own, e.r.floor)


def param_grad_findings(actual_dgamma, actual_dbeta, grads, dy, x, gamma, mean, var, eps: float, axis: int,
                        dtype: str) -> tuple[fits.Findings, fits.Findings]:
    """Statistical tier, training dgamma and dbeta: each against ``param_grad_bounds`` with Higham and
    Mary's lambda sqrt(m) u and x_hat's own errors summed as a random walk."""
    t = terms(dy, x, gamma, mean, var, eps, axis, dtype, PROBABILISTIC, training=True)
    bound_dgamma, bound_dbeta = param_grad_bounds(t, grads)
    return (fits.beyond(actual_dgamma, grads.dgamma, bound_dgamma),
            fits.beyond(actual_dbeta, grads.dbeta, bound_dbeta))
