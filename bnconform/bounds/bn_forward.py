"""Batch normalization's forward output y = gamma x_hat + beta: its error terms, once, and both tiers.

With x_hat's errors from ``batch_stats.x_hat_errors`` (e_mean, rho = rel(sigma), delta_i = ``local``):

    |e_y_i| <= |gamma| |e_x_hat_i| + 2 u (|gamma x_hat_i| + |beta|) + u |y_i|     (scale, shift, stored)

- worst-case tier (``tolerance``): element-wise, SAFETY times that plus the underflow floor, with
  Higham's gamma_n for the batch statistics' reductions (Higham, 2nd ed., eq. (3.4));
- statistical tier (``findings``): the same terms split into what a feature's elements share and
  what is each element's own, with Higham and Mary's lambda sqrt(n) u for the reductions
  (``reduction.PROBABILISTIC``), and per feature e_i = A + B x_hat_i fitted (``fits.shared_components``):

      A_bound = |gamma| e_mean / sigma + 2 u (|beta| + |gamma mu / sigma|)    (mean; shift stored)
      B_bound = |gamma| (rho + 2 u)                                           (sigma; scale stored)
      own_i   = |gamma| delta_i + 2 u (|gamma x_hat_i| + |beta|) + u |y_i|
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bnconform.reference import batch_norm as _bn

from . import fits
from .batch_stats import XHatErrors, x_hat_errors
from .reduction import PROBABILISTIC, WORST_CASE, ReductionBound, per_feature
from .roundoff import Numerics, finish, one_pass, resolve


class Terms(NamedTuple):
    """The forward pass's error terms (float64; broadcastable against x)."""

    errors: XHatErrors
    gamma: np.ndarray  # gamma, keepdims
    y_scaled: np.ndarray  # gamma (x - mu) / sigma = gamma x_hat
    scale_shift: np.ndarray  # 2 u (|gamma x_hat| + |beta|): the scale and the shift applied and rounded
    beta: np.ndarray  # beta, keepdims
    mu: np.ndarray  # the mean, keepdims


def terms(x, gamma, beta, mean, var, eps: float, axis: int, dtype: str, bound: ReductionBound, *, training: bool,
          numerics: Numerics | None = None, reduced=None) -> Terms:
    """The error terms of the module docstring with ``bound``'s reductions; ``reduced``: the values the
    batch statistics reduce when not all of x (``batch_stats.x_hat_errors``: a mask's unmasked values)."""
    r = resolve(dtype, numerics)
    x = np.asarray(x, np.float64)
    axis = axis % x.ndim
    errs = x_hat_errors(x, mean, var, eps, axis, r, bound, training=training, one_pass=one_pass(numerics),
                        reduced=reduced)
    g, b, mu = (_bn.broadcast(np.asarray(a, np.float64), x.ndim, axis) for a in (gamma, beta, mean))
    y_scaled = g * (x - mu) / errs.sigma
    return Terms(errs, g, y_scaled, 2.0 * r.out * (np.abs(y_scaled) + np.abs(b)), b, mu)


def tolerance(x, gamma, beta, mean, var, eps: float, axis: int, dtype: str, *, training: bool,
              numerics: Numerics | None = None, reduced=None) -> np.ndarray:
    """Worst-case tier: SAFETY (|gamma| |e_x_hat| + 2 u (|gamma x_hat| + |beta|) + u |y|) + floor,
    element-wise, Higham's gamma_n for the batch statistics (of ``reduced`` where given)."""
    t = terms(x, gamma, beta, mean, var, eps, axis, dtype, WORST_CASE, training=training, numerics=numerics,
              reduced=reduced)
    return finish(np.abs(t.gamma) * t.errors.element + t.scale_shift, t.y_scaled + t.beta, t.errors.r)


def findings(actual, expected, x, gamma, beta, mean, var, eps: float, axis: int, dtype: str, *,
             training: bool, reduced=None) -> fits.Findings:
    """Statistical tier: per feature, e = A + B x_hat fitted and held to A_bound, B_bound (module
    docstring, Higham and Mary's lambda sqrt(n) u for the batch statistics), the floors u rms(y)
    and u |gamma|, and the residual to the elements' own errors."""
    x = np.asarray(x, np.float64)
    axis = axis % x.ndim
    t = terms(x, gamma, beta, mean, var, eps, axis, dtype, PROBABILISTIC, training=training, reduced=reduced)
    e, u = t.errors, t.errors.r.out
    bound_a = np.abs(t.gamma) * e.mean / e.sigma + 2.0 * u * (np.abs(t.beta) + np.abs(t.gamma * t.mu) / e.sigma)
    bound_b = np.abs(t.gamma) * (e.rho + 2.0 * u)
    expected = np.asarray(expected, np.float64)
    floor_a = u * np.sqrt(per_feature(np.square(expected), axis).mean(axis=1))
    floor_b = u * np.abs(np.asarray(gamma, np.float64)).reshape(-1)
    own = np.abs(t.gamma) * e.local + t.scale_shift + u * np.abs(expected)
    err = np.asarray(actual, np.float64) - expected
    return fits.shared_components(err, e.x_hat, axis, bound_a, bound_b, floor_a, floor_b, own, e.r.floor)

