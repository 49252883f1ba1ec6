"""Batch normalization's per-feature quantities and their errors: the batch mean and variance, sigma,
x_hat. Both tiers start here; ``bound`` (``reduction``) decides how the two reductions err.

With m = N H W values per feature (gamma_n and pg(n) = lambda sqrt(n) u with u_acc; u alone is the
dtype's own roundoff):

    |e_mean| <= gamma_{m+1} mean|x| + u |mu|                      (sum of m terms, / m, stored)
    |e_var|  <= R_var + e_mean^2 + u var                           (the reduction, the mean's, stored)
    rel(sigma) <= |e_var| / (2 (var + eps)) + 2 u                  (training; 3 u in inference)
    |e_x_hat_i| <= (|e_mean| + 3 u (|x_i| + |mu|)) / sigma + |x_hat_i| rel(sigma)

R_var, the sum of the m squared deviations d_i^2 (d = x - mu) with each d_i's own rounding of at
most u (|x_i| + |mu|):

- worst case: gamma_{m+3} (var + 2 mean(|d| |x|)) -- a relative perturbation of x of size u_acc
  (Higham, eq. (3.4) with the conditioning sum|d_i| |x_i|), large when the offset is large relative
  to the spread; one-pass (E[x^2] - E[x]^2, Chan, Golub and LeVeque 1983):
  gamma_{m+3} (mean(x^2) + 2 |mu| mean|x|), (offset / spread)^2 times the two-pass term;
- probabilistic: pg(m + 3) var + 2 u_acc lambda sqrt(sum (|d| (|x| + |mu|))^2) / m -- the m
  non-negative d_i^2 summed (Higham and Mary, Theorem 3.1) and the d_i's own roundings independent
  (the mean's error drops out to first order, sum d_i = 0).

The error of x_hat has a structure the reductions over x_hat use (``bn_backward``): to first order

    x_hat_computed_i = x_hat_i - e_mean / sigma - rho x_hat_i + delta_i,
    |rho| <= rel(sigma),  |delta_i| <= 3 u (|x_i| + |mu|) / sigma  (``local``)

where e_mean and rho are one number per feature, shared by all its m elements (the mean and sigma
are computed once), and only delta_i is the element's own rounding.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bnconform.reference import batch_norm as _bn

from .reduction import ReductionBound, distinct_enough, random_walk
from .roundoff import Roundoff


def along(v, ndim: int, axis: int) -> np.ndarray:
    """A per-feature (C,) array shaped to broadcast along ``axis``; a 0-d one as it is."""
    v = np.asarray(v, np.float64)
    return v if v.ndim == 0 else _bn.broadcast(v, ndim, axis)


def stat_errors(x, mean, var, axis: int, r: Roundoff, bound: ReductionBound, *, one_pass: bool = False,
                varied: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the batch mean and biased variance of ``x`` per feature (keepdims shape), e_mean and
    e_var of the module docstring with ``bound``'s reductions; ``one_pass`` (worst case only) bounds
    E[x^2] - E[x]^2; ``varied`` is ``distinct_enough(x, axis)`` when the caller has it."""
    axes = _bn.reduction_axes(x.ndim, axis)
    m = x.size // x.shape[axis]
    mu = _bn.broadcast(np.asarray(mean, np.float64), x.ndim, axis)
    v = _bn.broadcast(np.asarray(var, np.float64), x.ndim, axis)
    if bound.probabilistic and varied is None:
        varied = distinct_enough(x, axis)
    g_mean, g_var = (along(bound.gamma(n, r, x, axis, varied), x.ndim, axis) for n in (m + 1, m + 3))
    e_mean = g_mean * np.abs(x).mean(axis=axes, keepdims=True) + r.out * np.abs(mu)
    if bound.probabilistic:
        own = 2.0 * r.acc * random_walk(np.abs(x - mu) * (np.abs(x) + np.abs(mu)), axis, varied) / m
        reduced = g_var * v + _bn.broadcast(own, x.ndim, axis)
    elif one_pass:
        reduced = g_var * (np.square(x).mean(axis=axes, keepdims=True)
                           + 2.0 * np.abs(mu) * np.abs(x).mean(axis=axes, keepdims=True))
    else:
        reduced = g_var * (v + 2.0 * (np.abs(x - mu) * np.abs(x)).mean(axis=axes, keepdims=True))
    return e_mean, reduced + e_mean**2 + r.out * v


class XHatErrors(NamedTuple):
    """x_hat of the reference and the errors of its pieces (float64; keepdims per feature)."""

    x_hat: np.ndarray  # the reference's (x - mu) / sigma
    sigma: np.ndarray  # sqrt(var + eps), keepdims
    mean: np.ndarray  # bound on the mean's error, keepdims (0 in inference)
    rho: np.ndarray  # relative bound on sigma, keepdims
    local: np.ndarray  # delta_i's bound, 3 u (|x| + |mu|) / sigma, element-wise
    r: Roundoff
    varied: np.ndarray | None  # per feature (C,): whether x's values vary (probabilistic, training)

    @property
    def element(self) -> np.ndarray:
        """|e_x_hat_i| <= |e_mean| / sigma + delta_i + |x_hat_i| rho, element-wise."""
        return self.mean / self.sigma + self.local + np.abs(self.x_hat) * self.rho


def x_hat_errors(x, mean, var, eps: float, axis: int, r: Roundoff, bound: ReductionBound, *, training: bool,
                 one_pass: bool = False, reduced=None) -> XHatErrors:
    """The errors of x_hat = (x - mean) / sqrt(var + eps) in the dtype's arithmetic (module docstring);
    in inference mean and var are stored constants (e_mean = e_var = 0, 3 u on sigma). ``reduced``:
    the values the training statistics reduce when they are not all of x (a mask's unmasked values,
    ``bnconform.reference.masked.unmasked_values``, of x's rank and feature axis): m is their count. A
    masked value enters a framework's sums as an exact 0 (or not at all), and adding 0 is exact, so
    the reductions' bounds are those of the m unmasked terms whatever the order."""
    x = np.asarray(x, np.float64)
    src = x if reduced is None else np.asarray(reduced, np.float64)
    mu = _bn.broadcast(np.asarray(mean, np.float64), x.ndim, axis)
    v = _bn.broadcast(np.asarray(var, np.float64), x.ndim, axis)
    sigma = np.sqrt(v + eps)
    varied = distinct_enough(src, axis) if training and bound.probabilistic else None
    if training:
        e_mean, e_var = stat_errors(src, mean, var, axis, r, bound, one_pass=one_pass, varied=varied)
        rho = 0.5 * e_var / (v + eps) + 2.0 * r.out
    else:
        e_mean, rho = np.zeros_like(mu), 3.0 * r.out + 0.0 * v
    local = 3.0 * r.out * (np.abs(x) + np.abs(mu)) / sigma
    return XHatErrors((x - mu) / sigma, sigma, e_mean, rho, local, r, varied)
