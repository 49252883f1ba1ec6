"""The tolerance model: how far a framework's output may honestly lie from the float64 reference.

Every comparison in the suite is element-wise, ``|actual - expected| <= tol``, with ``tol`` computed
here from a first-order rounding-error bound of the op (Higham, "Accuracy and Stability of Numerical
Algorithms", 2nd ed., chapters 2-4). The ingredients:

- the framework's dtype, through two unit roundoffs (``bnconform.dtypes``): ``u_acc`` for the
  accumulation of reductions (sums, means, dot products) and ``u`` for everything else: element-wise
  arithmetic and every stored intermediate (a framework may keep the per-feature mean, 1/sigma, scale
  and shift in the dtype). For float32 and float64 both are the dtype's own. For float16 and bfloat16,
  ``u_acc`` is float32's: every framework here accumulates half-precision reductions in float32
  (Keras upcasts BN explicitly; PyTorch uses float32 "opmath" on CPU; XLA upcasts on CPU). An
  implementation that accumulates in half precision exceeds this model and is reported, not excused.
- the length n of each reduction, through Higham's gamma_n = n u / (1 - n u), the worst-case relative
  error of any order of summation of n terms (recursive, pairwise or blocked):
  ``m`` = N*H*W values per feature for BN statistics, ``C_in/groups * kh * kw`` for convolution,
  the window size for pooling;
- the magnitudes that enter the computation, so the conditioning of the input shows up: a sum of
  terms that cancel is bounded by the sum of their absolute values, and batch norm divides by
  sigma = sqrt(var + eps), so a large offset relative to the spread (mean|x| / sigma) gives a large,
  honest bound for a backward-stable algorithm -- and still exposes one that is not (one-pass
  variance E[x^2] - E[x]^2 loses about (mean|x| / sigma)^2 u, a factor kappa beyond the bound);
- one safety factor ``SAFETY`` for the whole suite, covering the second-order terms the first-order
  bounds drop, and ``smallest_normal(dtype)`` as an absolute floor for gradual underflow.

The same formulas serve the known deviations' *tolerance variants* (``bnconform.variants``): an
optional ``numerics`` argument (:class:`Numerics`) evaluates them with other numerics than the
model's default -- another unit roundoff (a float64 layer that computes in float32, a reduction
accumulated in the half dtype) or the one-pass variance term. ``numerics=None`` is the default model,
which the conformance properties use; a variant never loosens it, it judges an example again.

Inputs are generated already representable in the dtype (``bnconform.cases``), so input rounding
contributes nothing. The bounds below are worst-case: typical errors are far smaller, and the
suite records the largest ``|err| / tol`` seen so that the margin is visible in the report.

This worst case is the safety net. Because it grows like n u and lets every element's own rounding
point the same way, a subtle systematic bug (a wrong eps, m - 1 for m) can hide under it; the
statistical tier (``bnconform.noise``) looks at the elements of a feature (or of a whole output)
together, with Higham and Mary's probabilistic lambda sqrt(n) u for the reductions, and
``checks.judge`` applies it on top of this model for batch norm's outputs and moving statistics,
the convolution and average and global average pooling (default model only). docs/tolerances.md and docs/sensitivity.md have the measured
detection thresholds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bnconform.reference import batch_norm as _bn
from bnconform.reference import conv as _conv
from bnconform.reference import pool as _pool

from . import dtypes

SAFETY = 2.0
"""The suite's single safety factor on first-order bounds."""


class Roundoff(NamedTuple):
    acc: float  # u for the accumulation of reductions
    out: float  # u for element-wise arithmetic and stored results, in the dtype
    floor: float  # absolute allowance for gradual underflow
    long_sums: bool = False  # allow n u >= 1/2 (see gamma); only for sums in half precision

    def gamma(self, n) -> np.ndarray:
        """Higham's gamma_n = n u / (1 - n u) for the accumulation precision.

        With ``long_sums`` (a model of sums accumulated in half precision, where n u reaches 1/2 for
        a few hundred terms) the bound is (1 + u)^n - 1 instead, the product of n roundings before
        the first-order simplification: valid for every n (Higham, Lemma 3.1 and eq. (3.2)), equal to
        gamma_n to first order, and honestly large when the sum is long.
        """
        n = np.asarray(n, np.float64)
        nu = n * self.acc
        if self.long_sums:
            return np.expm1(n * np.log1p(self.acc))
        if np.any(nu >= 0.5):
            raise ValueError(
                f"n: a reduction of {int(np.max(n))} terms is too long for a rounding-error bound at u={self.acc:g}"
            )
        return nu / (1.0 - nu)


def roundoff(dtype: str, *, accumulate_in: str | None = None) -> Roundoff:
    """The model's roundoffs for ``dtype``; ``accumulate_in`` names another accumulation precision
    (a half one allows long sums, see ``Roundoff.gamma``)."""
    return Roundoff(
        dtypes.unit_roundoff(accumulate_in or dtypes.accumulation_dtype(dtype)),
        dtypes.unit_roundoff(dtype),
        dtypes.smallest_normal(dtype),
        long_sums=accumulate_in in dtypes.HALF,
    )


VARIANCE_ALGORITHMS = ("two-pass", "one-pass")


class Numerics(NamedTuple):
    """Other numerics to evaluate the model with (the known deviations' tolerance variants).

    ``roundoff`` replaces ``roundoff(dtype)`` (e.g. ``roundoff("float32")`` for a float64 layer
    that computes in float32); ``variance`` "one-pass" bounds the batch variance as computed by
    E[x^2] - E[x]^2 (``batch_stat_errors``) instead of the two-pass sum of squared deviations.
    """

    roundoff: Roundoff | None = None
    variance: str = "two-pass"


def _roundoff(dtype: str, numerics: Numerics | None) -> Roundoff:
    if numerics is not None and numerics.roundoff is not None:
        return numerics.roundoff
    return roundoff(dtype)


def _one_pass(numerics: Numerics | None) -> bool:
    if numerics is None:
        return False
    if numerics.variance not in VARIANCE_ALGORITHMS:
        raise ValueError(f"variance: expected one of {VARIANCE_ALGORITHMS}, got {numerics.variance!r}")
    return numerics.variance == "one-pass"


def _finish(bound: np.ndarray, y: np.ndarray, r: Roundoff) -> np.ndarray:
    """Add the rounding of the stored result, the safety factor and the underflow floor."""
    return SAFETY * (bound + r.out * np.abs(y)) + r.floor


# --------------------------------------------------------------------------------------------
# Batch normalization
# --------------------------------------------------------------------------------------------


class BNErrors(NamedTuple):
    """First-order error bounds of the pieces of batch normalization (float64 arrays)."""

    x_hat: np.ndarray  # bound on |x_hat_computed - x_hat|, element-wise
    sigma_rel: np.ndarray  # relative bound on sigma = sqrt(var + eps), per feature (broadcastable)
    mean: np.ndarray  # bound on the batch mean, per feature (broadcastable); 0 in inference
    local: np.ndarray  # the element's own part of x_hat's error, 3 u (|x| + |mu|) / sigma (see bn_errors)


def batch_stat_errors(x, mean, var, axis: int, r: Roundoff, *, one_pass: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the batch mean and biased variance of ``x`` per feature (keepdims shape).

        |e_mean| <= gamma_{m+1} mean|x| + u |mu|            (sum of m terms, / m, stored)
        |e_var|  <= gamma_{m+3} (var + 2 mean(|x - mu| |x|)) + e_mean^2 + u var

    The middle term of e_var is what a relative perturbation of x of size u_acc moves the variance
    by: the problem's own conditioning, large when the offset is large relative to the spread.
    (gamma_n with u_acc; u alone is the dtype's own roundoff.)

    ``one_pass``: the variance computed as E[x^2] - E[x]^2 (Chan, Golub and LeVeque 1983, the
    "textbook" algorithm). mean(x^2) is a sum of m non-negative squares (gamma_{m+2} relative, the
    squaring included), E[x]^2 carries 2 |mu| e_mean, and the difference is rounded once:

        |e_var|  <= gamma_{m+3} (mean(x^2) + 2 |mu| mean|x|) + e_mean^2 + u var

    which is (offset / spread)^2 times the two-pass term when the offset is large: the cancellation.
    """
    axes = _bn.reduction_axes(x.ndim, axis)
    m = x.size // x.shape[axis]
    mean_b = _bn.broadcast(np.asarray(mean, np.float64), x.ndim, axis)
    var_b = _bn.broadcast(np.asarray(var, np.float64), x.ndim, axis)
    e_mean = r.gamma(m + 1) * np.abs(x).mean(axis=axes, keepdims=True) + r.out * np.abs(mean_b)
    if one_pass:
        magnitude = np.square(x).mean(axis=axes, keepdims=True) + 2.0 * np.abs(mean_b) * np.abs(x).mean(
            axis=axes, keepdims=True)
    else:
        spread = np.abs(x - mean_b)
        magnitude = var_b + 2.0 * (spread * np.abs(x)).mean(axis=axes, keepdims=True)
    e_var = r.gamma(m + 3) * magnitude
    return e_mean, e_var + e_mean**2 + r.out * var_b


def bn_errors(x, mean, var, eps: float, axis: int, dtype: str, *, training: bool,
              numerics: Numerics | None = None) -> BNErrors:
    """Error of x_hat = (x - mean) / sqrt(var + eps), in the dtype's arithmetic.

    Training (mean and var from the batch): e_mean and e_var from ``batch_stat_errors``, then

        rel(sigma)   <= (|e_var| / (var + eps)) / 2 + 2 u
        |e_x_hat_i|  <= (|e_mean| + 3 u (|x_i| + |mu|)) / sigma + |x_hat_i| rel(sigma)

    Inference (mean and var are stored constants): the same with e_mean = e_var = 0 and a 3 u
    relative error on sigma.

    The error has a structure the reductions over x_hat use (``bn_backward``): to first order

        x_hat_computed_i = x_hat_i - e_mean / sigma - rho x_hat_i + delta_i,
        |rho| <= rel(sigma),  |delta_i| <= 3 u (|x_i| + |mu|) / sigma  (``local``)

    where e_mean and rho are one number per feature, shared by all its m elements (the mean and
    sigma are computed once), and only delta_i is the element's own rounding.
    """
    r = _roundoff(dtype, numerics)
    x = np.asarray(x, np.float64)
    axis = axis % x.ndim
    mean_b = _bn.broadcast(np.asarray(mean, np.float64), x.ndim, axis)
    var_b = _bn.broadcast(np.asarray(var, np.float64), x.ndim, axis)
    sigma = np.sqrt(var_b + eps)
    if training:
        e_mean, e_var = batch_stat_errors(x, mean, var, axis, r, one_pass=_one_pass(numerics))
        sigma_rel = 0.5 * e_var / (var_b + eps) + 2.0 * r.out
    else:
        e_mean = np.zeros_like(mean_b)
        sigma_rel = 3.0 * r.out + 0.0 * var_b
    x_hat = (x - mean_b) / sigma
    local = 3.0 * r.out * (np.abs(x) + np.abs(mean_b)) / sigma
    e_x_hat = e_mean / sigma + local + np.abs(x_hat) * sigma_rel
    return BNErrors(e_x_hat, sigma_rel, e_mean, local)


def bn_forward(x, gamma, beta, mean, var, eps: float, axis: int, dtype: str, *, training: bool,
               numerics: Numerics | None = None) -> np.ndarray:
    """Tolerance on y = gamma * x_hat + beta.

        |e_y| <= |gamma| |e_x_hat| + 2 u (|gamma x_hat| + |beta|)       (scale, shift)
               + u_out |y|                                              (storing y)
    """
    r = _roundoff(dtype, numerics)
    x = np.asarray(x, np.float64)
    axis = axis % x.ndim
    errs = bn_errors(x, mean, var, eps, axis, dtype, training=training, numerics=numerics)
    g, b, mu, v = (_bn.broadcast(np.asarray(a, np.float64), x.ndim, axis) for a in (gamma, beta, mean, var))
    y_scaled = g * (x - mu) / np.sqrt(v + eps)
    bound = np.abs(g) * errs.x_hat + 2.0 * r.out * (np.abs(y_scaled) + np.abs(b))
    return _finish(bound, y_scaled + b, r)


class BNGradTolerance(NamedTuple):
    dx: np.ndarray
    dgamma: np.ndarray
    dbeta: np.ndarray


def bn_backward(
    dy, x, gamma, mean, var, eps: float, axis: int, dtype: str, *, training: bool, grads,
    numerics: Numerics | None = None,
) -> BNGradTolerance:
    """Tolerances on dx, dgamma, dbeta (``grads``: the reference's, to size the stored results).

    With s = gamma / sigma, A = mean(dy), B = mean(dy x_hat) over the m values of a feature:

        dbeta  = sum dy                  |e| <= gamma_m sum|dy|
        dgamma = sum dy x_hat            |e| <= gamma_{m+1} sum|dy x_hat| + E(sum)
        dx (training)  = s (dy - A - x_hat B)
            |e| <= |s| [ gamma_{m+1} mean|dy| + |x_hat| (gamma_{m+2} mean|dy x_hat| + E(mean))
                         + |e_x_hat| |B| + (3 u + rel(sigma)) (|dy| + |A| + |x_hat B|) ]
        dx (inference) = s dy            |e| <= |s| |dy| (3 u + rel(sigma))

    E is the error that x_hat's own error carries into sum dy x_hat (or its mean). With the
    structure of ``bn_errors`` (x_hat_c = x_hat - e_mean / sigma - rho x_hat + delta, e_mean and rho
    shared by the feature's m elements):

        sum dy (x_hat_c - x_hat) = -(e_mean / sigma) sum dy - rho sum dy x_hat + sum dy delta
        E(sum) = (e_mean / sigma) |sum dy| + rel(sigma) |sum dy x_hat| + sum |dy| local

    The shared errors multiply the *value* of the sum, not the sum of its absolute terms: a
    relative error of sigma is a relative error of dgamma. (Bounding it by sum |dy| |e_x_hat| --
    as if each element's x_hat erred independently by its worst case -- is valid but grows like
    m^2 u, since rel(sigma) itself is ~ m u: at m = 1,000 that excused a 1-8% error in dgamma.)
    E(sum) <= sum |dy| |e_x_hat| always (triangle inequality), so this bound is a tightening.

    (gamma_n with u_acc; u is the dtype's own roundoff.)
    """
    r = _roundoff(dtype, numerics)
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    axis = axis % x.ndim
    axes = _bn.reduction_axes(x.ndim, axis)
    m = x.size // x.shape[axis]
    errs = bn_errors(x, mean, var, eps, axis, dtype, training=training, numerics=numerics)
    g, mu, v = (_bn.broadcast(np.asarray(a, np.float64), x.ndim, axis) for a in (gamma, mean, var))
    x_hat = (x - mu) / np.sqrt(v + eps)
    s = np.abs(g) / np.sqrt(v + eps)

    def total(a):
        return a.sum(axis=axes)

    e_dbeta = r.gamma(m) * total(np.abs(dy))
    sigma = np.sqrt(v + eps)

    def carried(reduce):
        """E: x_hat's error carried into reduce(dy x_hat), keepdims (see the docstring)."""
        shared = (errs.mean / sigma) * np.abs(reduce(dy)) + errs.sigma_rel * np.abs(reduce(dy * x_hat))
        return shared + reduce(np.abs(dy) * errs.local)

    e_dgamma = r.gamma(m + 1) * total(np.abs(dy * x_hat)) + carried(
        lambda t: t.sum(axis=axes, keepdims=True)).reshape(-1)
    if training:
        a = dy.mean(axis=axes, keepdims=True)
        b = (dy * x_hat).mean(axis=axes, keepdims=True)
        e_b = r.gamma(m + 2) * np.abs(dy * x_hat).mean(axis=axes, keepdims=True) + carried(
            lambda t: t.mean(axis=axes, keepdims=True))
        e_dx = s * (
            r.gamma(m + 1) * np.abs(dy).mean(axis=axes, keepdims=True)
            + np.abs(x_hat) * e_b
            + errs.x_hat * np.abs(b)
            + (3.0 * r.out + errs.sigma_rel) * (np.abs(dy) + np.abs(a) + np.abs(x_hat * b))
        )
    else:
        e_dx = s * np.abs(dy) * (3.0 * r.out + errs.sigma_rel)
    return BNGradTolerance(
        _finish(e_dx, grads.dx, r), _finish(e_dgamma, grads.dgamma, r), _finish(e_dbeta, grads.dbeta, r)
    )


def carried_moving_errors(batches, init_mean, init_var, results, *, axis: int, weights_old, unbiased: bool,
                          r: Roundoff, batch_errors) -> tuple[np.ndarray, np.ndarray]:
    """The bounds on the moving mean and variance carried through the updates (before the safety
    factor and the floor), each step's batch statistics bounded by ``batch_errors(x, mean, var,
    axis)`` -- the worst case here (``batch_stat_errors``), Higham and Mary's probabilistic bounds in
    the statistical tier (``noise.batch_stat_errors``); see :func:`moving_stats` for the recurrence."""
    e_mean = np.zeros_like(np.asarray(init_mean, np.float64))
    e_var = np.zeros_like(e_mean)
    old_mean, old_var = np.asarray(init_mean, np.float64), np.asarray(init_var, np.float64)
    for x, a, new in zip(batches, weights_old, results):
        x = np.asarray(x, np.float64)
        ax = axis % x.ndim
        stats = _bn.batch_stats(x, ax)
        m = stats.count
        var_scale = m / (m - 1) if unbiased and m > 1 else 1.0
        e_batch_mean, e_batch_var = (e.reshape(-1) for e in batch_errors(x, stats.mean, stats.var, ax))
        e_batch_var = var_scale * e_batch_var + 2.0 * r.out * stats.var * var_scale
        b = 1.0 - a
        e_mean = a * e_mean + b * e_batch_mean + 3.0 * r.out * (np.abs(a * old_mean) + np.abs(b * stats.mean))
        e_mean = e_mean + r.out * (np.abs(new.mean) + np.abs(old_mean) + np.abs(stats.mean))
        e_var = a * e_var + b * e_batch_var + 3.0 * r.out * (np.abs(a * old_var) + np.abs(b * stats.var * var_scale))
        e_var = e_var + r.out * (np.abs(new.var) + np.abs(old_var) + np.abs(stats.var * var_scale))
        old_mean, old_var = new.mean, new.var
    return e_mean, e_var


def moving_stats(
    batches, init_mean, init_var, results, *, axis: int, dtype: str, weights_old, unbiased: bool,
    numerics: Numerics | None = None,
) -> tuple:
    """Tolerances on the moving mean and variance after len(batches) updates.

    One update new = a old + (1 - a) stat, with the batch statistics' errors from
    ``batch_stat_errors`` (the variance's scaled by m / (m - 1) when ``unbiased``), costs

        |e_new| <= a |e_old| + (1 - a) |e_stat| + 3 u (|a old| + |(1 - a) stat|) + u |new|
                   + u (|old| + |stat|)

    and the bound is carried through the steps. The last term allows the momentum itself to be
    rounded to the dtype (PyTorch does in bfloat16: 0.99 becomes 0.98828125), which moves both
    weights by up to u. ``weights_old`` holds a for each step (momentum or
    1 - momentum, or 1 - 1/k for the cumulative average); ``results`` the reference's states after
    each step (``bnconform.reference.MovingStats``), used for the magnitudes.
    """
    r = _roundoff(dtype, numerics)
    one_pass = _one_pass(numerics)
    e_mean, e_var = carried_moving_errors(
        batches, init_mean, init_var, results, axis=axis, weights_old=weights_old, unbiased=unbiased, r=r,
        batch_errors=lambda x, mean, var, ax: batch_stat_errors(x, mean, var, ax, r, one_pass=one_pass))
    return SAFETY * e_mean + r.floor, SAFETY * e_var + r.floor


# --------------------------------------------------------------------------------------------
# Convolution and pooling
# --------------------------------------------------------------------------------------------


def conv2d(x, w, b, y, *, dtype: str, **conv_kwargs) -> np.ndarray:
    """Tolerance on a 2-D convolution output y = b + sum_{K terms} w x, K = C_in/groups * kh * kw.

        |e_y| <= gamma_{K+1} (conv(|x|, |w|) + |b|) + u |y - b| + u |y|

    conv(|x|, |w|) is the sum of the absolute products under each output (the reduction's
    condition), computed with the reference itself on absolute values. The middle term lets the
    sum be stored in the dtype before the bias is added (Flax's Conv adds the bias as a separate op):
    that rounds the sum's *value* y - b, by at most u |y - b|. (It used to read u conv(|x|, |w|),
    which is K-fold larger under cancellation and excused a float16 convolution accumulating in
    float16 whenever it had a bias.)
    """
    r = roundoff(dtype)
    w = np.asarray(w, np.float64)
    k = w.shape[1] * w.shape[2] * w.shape[3]
    magnitude = _conv.conv2d(np.abs(x), np.abs(w), None, **conv_kwargs)
    bias_signed = 0.0 if b is None else _bn.broadcast(np.asarray(b, np.float64), 4, 3 if conv_kwargs.get(
        "data_format", "channels_last") == "channels_last" else 1)
    bias = np.abs(bias_signed)
    # storing the sum before the bias is added rounds the *sum*, |y - b|, not the sum of magnitudes
    stored_sum = 0.0 if b is None else r.out * np.abs(np.asarray(y, np.float64) - bias_signed)
    bound = r.gamma(k + 1) * (magnitude + np.abs(bias)) + stored_sum
    return _finish(bound, y, r)


def root_exponent_error(y, p: float, dtype: str) -> np.ndarray:
    """What computing the root y = s^(1/p) with the exponent 1/p rounded to the dtype costs.

    An implementation that evaluates ``pow(s, 1 / p)`` in the dtype (PyTorch's ``lp_pool2d`` does)
    raises s to q (1 + delta) instead of q = 1/p, with delta = |fl(q) - q| / q the exponent's own
    rounding (0 when 1/p is representable: p = 1, 2, 4). Then

        s^(q (1 + delta)) = y s^(q delta) = y exp(delta ln y)  =>  |e_y| <= delta |ln y| |y|  (first order)

    (ln s^q = ln y). It grows with |ln y|, so it matters for outputs far from 1: at p = 3 in float32
    delta = 2.98e-8 = 0.5 u, and y = 4 costs 0.7 u more than the other terms allow.
    """
    q = 1.0 / float(p)
    delta = abs(float(dtypes.round_to(np.asarray(q), dtype)) - q) / q
    y = np.abs(np.asarray(y, np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, delta * np.abs(np.log(np.where(y > 0, y, 1.0))) * y, 0.0)


def underflowing_powers(x, p: float, window, r: "Roundoff", **pool_kwargs) -> np.ndarray:
    """How many of each Lp window's powers |x|^p fall below the dtype's smallest normal ``r.floor``."""
    below = (np.abs(np.asarray(x, np.float64)) ** p < r.floor).astype(np.float64)
    return _pool.lp_pool2d(below, 1.0, window, **pool_kwargs)  # p = 1: the count over the window's values


def power_underflow_error(s, p: float, count, r: "Roundoff") -> np.ndarray:
    """What the powers |x|^p of an Lp window lose to underflow, carried through the root.

    A power below the dtype's smallest normal f is subnormal or, on a CPU that flushes, zero (x = 0.01
    in float16 gives x^3 = 1e-6 < f = 6.1e-5), an absolute error up to f per term whatever its
    relative accuracy: up to e_s = k f over the window's sum s. The root t -> t^(1/p) carries it as

        |e_y| <= min( (1/p) s^(1/p - 1) e_s,  e_s^(1/p) )     (first order; and 1/p-Hoelder on t >= 0)

    so an output whose window sum is near the underflow range may be off by (count f)^(1/p) (0.04 at
    p = 3, one power in float16); a window with no power below f gets nothing. ``r.floor`` is f.
    """
    s = np.abs(np.asarray(s, np.float64))
    e_s = np.asarray(count, np.float64) * r.floor
    if p == 1:
        return np.broadcast_to(e_s, s.shape).copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        first_order = np.where(s > 0, s ** (1.0 / p - 1.0) * e_s / p, np.inf)
    return np.where(e_s > 0, np.minimum(first_order, e_s ** (1.0 / p)), 0.0)


def pool2d(kind: str, x, y, *, dtype: str, window=None, p=None, numerics: Numerics | None = None,
           **pool_kwargs) -> np.ndarray:
    """Tolerance on a pooled output.

        max:             0 (the result is one of the inputs; no arithmetic)
        average:         gamma_{k+1} avg(|x|) + u_out |y|        (k values summed, one division)
        Lp-norm:         ((k u_acc + 4 u) max(1, 1/p) + u) |y|     (|x|^p, the sum, the root; all
                         terms non-negative, so the relative error of the sum is gamma_k)
                         + delta |ln y| |y|                       (the root's exponent 1/p in the
                         dtype, :func:`root_exponent_error`)
                         + min(s^(1/p-1) c f / p, (c f)^(1/p))     (c powers |x|^p of the window below
                         the smallest normal f, flushed or subnormal: :func:`power_underflow_error`)
        global average:  as average with k = H * W (the spatial axes of the case's data_format)
    """
    r = _roundoff(dtype, numerics)
    y = np.asarray(y, np.float64)
    if kind == "max":
        return np.zeros_like(y)
    if kind == "global_avg":
        fmt = pool_kwargs.get("data_format", "channels_last")
        x = np.asarray(x, np.float64)
        # the reduction runs over the spatial axes: H, W are axes 1, 2 for NHWC and 2, 3 for NCHW
        k = x.shape[1] * x.shape[2] if fmt == "channels_last" else x.shape[2] * x.shape[3]
        magnitude = _pool.global_avg_pool2d(np.abs(x), data_format=fmt)
        return _finish(r.gamma(k + 1) * magnitude, y, r)
    kh, kw = (window, window) if np.isscalar(window) else window
    k = kh * kw
    if kind == "avg":
        magnitude = _pool.avg_pool2d(np.abs(x), window, **pool_kwargs)
        return _finish(r.gamma(k + 1) * magnitude, y, r)
    if kind == "lp":
        rel = (k * r.acc + 4.0 * r.out) * max(1.0, 1.0 / p)
        return _finish(rel * np.abs(y) + root_exponent_error(y, p, dtype)
                       + power_underflow_error(np.abs(y) ** p, p, underflowing_powers(x, p, window, r, **pool_kwargs),
                                               r), y, r)
    raise ValueError(f"kind: expected 'max', 'avg', 'lp' or 'global_avg', got {kind!r}")
