"""Batch normalization's moving mean and variance after len(batches) updates: one recurrence, both tiers.

One update new = a old + (1 - a) stat, with the batch statistics' errors e_stat from
``batch_stats.stat_errors`` (the variance's scaled by m / (m - 1) and 2 u of the scaled variance
added when ``unbiased``), costs

    |e_new| <= a |e_old| + (1 - a) |e_stat| + 3 u (|a old| + |(1 - a) stat|) + u |new|
               + u (|old| + |stat|)

and the bound is carried through the steps. The last term allows the momentum itself to be rounded
to the dtype (PyTorch does in bfloat16: 0.99 becomes 0.98828125), which moves both weights by up
to u. Each update's own arithmetic is a rounding of one number, stored once, that nothing averages,
so both tiers keep these terms; they differ only in e_stat's reductions over the m values of a
batch: Higham's gamma_m (worst-case tier, ``tolerance``) or Higham and Mary's lambda sqrt(m) u
(statistical tier, ``findings``: at m = 16,384 in float32 the worst case allows m u = 1e-3 of
mean|x| for the batch mean, this 4.6e-5). Each statistic is held to SAFETY times its bound plus the
underflow floor.
"""

from __future__ import annotations

import numpy as np

from bnconform.reference import batch_norm as _bn

from . import fits
from .batch_stats import stat_errors
from .reduction import PROBABILISTIC, WORST_CASE, ReductionBound
from .roundoff import SAFETY, Numerics, Roundoff, one_pass, resolve, roundoff


def carried_errors(batches, init_mean, init_var, results, *, axis: int, weights_old, unbiased: bool,
                   r: Roundoff, bound: ReductionBound, one_pass: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The bounds on the moving mean and variance carried through the updates (module docstring),
    before the safety factor and the floor. ``weights_old`` holds a for each step (momentum or
    1 - momentum, or 1 - 1/k for the cumulative average); ``results`` the reference's states after
    each step (``bnconform.reference.MovingStats``), used for the magnitudes."""
    e_mean = np.zeros_like(np.asarray(init_mean, np.float64))
    e_var = np.zeros_like(e_mean)
    old_mean, old_var = np.asarray(init_mean, np.float64), np.asarray(init_var, np.float64)
    for x, a, new in zip(batches, weights_old, results):
        x = np.asarray(x, np.float64)
        ax = axis % x.ndim
        stats = _bn.batch_stats(x, ax)
        m = stats.count
        var_scale = m / (m - 1) if unbiased and m > 1 else 1.0
        e_batch_mean, e_batch_var = (e.reshape(-1) for e in stat_errors(x, stats.mean, stats.var, ax, r, bound,
                                                                         one_pass=one_pass))
        e_batch_var = var_scale * e_batch_var + 2.0 * r.out * stats.var * var_scale
        b = 1.0 - a
        e_mean = a * e_mean + b * e_batch_mean + 3.0 * r.out * (np.abs(a * old_mean) + np.abs(b * stats.mean))
        e_mean = e_mean + r.out * (np.abs(new.mean) + np.abs(old_mean) + np.abs(stats.mean))
        e_var = a * e_var + b * e_batch_var + 3.0 * r.out * (np.abs(a * old_var) + np.abs(b * stats.var * var_scale))
        e_var = e_var + r.out * (np.abs(new.var) + np.abs(old_var) + np.abs(stats.var * var_scale))
        old_mean, old_var = new.mean, new.var
    return e_mean, e_var


def tolerance(batches, init_mean, init_var, results, *, axis: int, dtype: str, weights_old, unbiased: bool,
              numerics: Numerics | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Worst-case tier: SAFETY times the carried bounds plus the floor, Higham's gamma_m for the
    batch statistics (``numerics``: the known deviations' other roundoff or one-pass variance)."""
    r = resolve(dtype, numerics)
    e_mean, e_var = carried_errors(batches, init_mean, init_var, results, axis=axis, weights_old=weights_old,
                                   unbiased=unbiased, r=r, bound=WORST_CASE, one_pass=one_pass(numerics))
    return SAFETY * e_mean + r.floor, SAFETY * e_var + r.floor


def findings(actual_mean, actual_var, batches, init_mean, init_var, results, *, axis: int, dtype: str,
             weights_old, unbiased: bool) -> tuple[fits.Findings, fits.Findings]:
    """Statistical tier: the final moving mean and variance, one number per feature, against SAFETY
    times the carried bounds with Higham and Mary's lambda sqrt(m) u plus the floor ("total" findings)."""
    r = roundoff(dtype)
    e_mean, e_var = carried_errors(batches, init_mean, init_var, results, axis=axis, weights_old=weights_old,
                                   unbiased=unbiased, r=r, bound=PROBABILISTIC)
    final = results[-1]
    return (fits.beyond(actual_mean, final.mean, SAFETY * e_mean + r.floor),
            fits.beyond(actual_var, final.var, SAFETY * e_var + r.floor))
