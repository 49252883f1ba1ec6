"""The statistical tier of the tolerance model: systematic error across the elements of one output.

The element-wise bound (``bnconform.tolerance``) is a worst case for each element on its own. Most
of its width comes from terms that are an element's *own* rounding (the subtraction x - mu, the
product with 1/sigma, storing y) and from reductions bounded by gamma_n = n u. A subtle bug --
eps 1e-3 instead of 1e-5, the variance divided by m - 1 instead of m, a backward pass that divides
mean(dy x_hat) by m - 1 -- is not an element's own error: it moves every element of a feature in the
same way, by a per-feature offset or a per-feature scale of x_hat. Such an error hides under the
element-wise bound but stands out when the m elements of a feature are looked at together.

So, per feature, the error e_i = actual_i - expected_i is regressed by least squares on the two
patterns that a shared error takes,

    e_i = A + B x_hat_i + r_i          (x_hat_i of the reference, i over the feature's m elements)

and the fitted A and B are held to the bounds of the *shared* errors alone, plus a statistical
allowance for the elements' own rounding:

    |A_fit| <= A_bound + Z se(A) + floor_A,      |B_fit| <= B_bound + Z se(B) + floor_B

- se(A), se(B): the standard errors of the fit, from the residual r (Z = 6 standard errors), for
  the part of the own roundings that is random;
- A_bound, B_bound: how far the shared quantities (mean, sigma, the folded scale and shift, for the
  backward pass mean(dy) and mean(dy x_hat)) may err, as in ``bnconform.tolerance``, with two
  changes: a reduction's gamma_n = n u is replaced by Higham and Mary's probabilistic
  lambda sqrt(n) u (Higham and Mary, "A new approach to probabilistic rounding error analysis",
  SIAM J. Sci. Comput. 41(5), 2019, Theorem 3.1: it holds with probability at least
  1 - 2 n exp(-lambda^2 (1 - u)^2 / 2) when the roundings are independent and mean-zero; LAMBDA = 6),
  and a value stored once in the dtype (mean, variance, 1/sigma, the folded scale) keeps its
  deterministic u -- one rounding of one number is not averaged by anything;
- floor_A, floor_B: what the elements' own errors give the fit if they all lean the same way
  (each within SAFETY times its own bound L_i, the part of the element-wise model that is not shared):
  |B| <= sum |t_i - mean t| L_i / S_tt, |A| <= mean L + |mean t| times that. Own roundings are not
  mean-zero when the data are structured: values on the dtype's grid in one binade, scaled by a
  common factor, all round the same way (torch's float16 inference on x ~ 10 +- 1 is one ulp low on
  every element). This keeps the shared-error check deterministic apart from the probabilistic
  reductions; in half precision, where the own roundings are large, it is what limits the check
  (docs/sensitivity.md). (At least u rms(y) and u |gamma|, u rms(dx) for dx.)

Two more checks complete the tier. The residual r is what is left of the own errors after the fit
(a projection, so never larger): its rms is held to SAFETY times the rms of their bounds L_i, which
catches an error that is not shared but too large for the dtype (inputs rounded to TF32 in a float32
layer). dgamma and dbeta are one number per feature, with nothing to fit: they are held to the
worst-case bound's terms with lambda sqrt(m) u for gamma_m and x_hat's own errors summed as a random
walk (``bn_param_grads``); so are the moving mean and variance (``moving_stats``: the batch
statistics' reductions probabilistic, each update's roundings of one stored number deterministic).

Convolution and average pooling have no per-feature parameters to fit against. Each output is held
to the worst case's terms with lambda sqrt(n) u for its reduction of n terms (``conv2d``,
``pool2d``), and all outputs together to a relative error they share (``shared_scale``: e = B y
through the origin, the shape of a divisor off by one or a constant factor), which honest rounding
keeps near u because the outputs' sums err independently -- where the input has enough distinct
values for that to hold (``DISTINCT_FRACTION``).

Every probabilistic bound here assumes roundings that vary. Addends that repeat -- a constant
feature, dy the same everywhere, an input of a few values -- give partial sums that round alike, and
the sum errs like n u: such a reduction keeps the worst case's gamma_n (``distinct_enough``,
``reduction_gamma``), and a convolution or pooling of such an input is left to the worst case.

Features with fewer than ``MIN_ELEMENTS`` elements are not checked (the fit is not informative), nor
a feature with a non-finite value, nor one whose x_hat is (nearly) constant (there B is not
identifiable; A still is). In float16 and bfloat16 the shared bounds are dominated by the
deterministic u of the stored per-feature values: a systematic error below a few u of the dtype is
what an honest half-precision implementation that keeps its statistics in the dtype can produce, and
is not flagged (docs/sensitivity.md).

This tier runs for the default model only (``checks.judge`` without ``numerics``); the known
deviations' variants judge element-wise.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bnconform.reference import batch_norm as _bn

from . import tolerance

LAMBDA = 6.0  # Higham-Mary's lambda for reductions (probabilistic gamma)
Z = 6.0  # standard errors allowed for the fitted shared components
MIN_ELEMENTS = 16
DISTINCT_FRACTION = 0.5  # a reduction is probabilistic only if this fraction of its addends differ,
ENOUGH_DISTINCT = 256  # or at least this many (a half-precision input has few values, in any order)


class Finding(NamedTuple):
    """One per-feature shared component beyond its bound."""

    component: str  # "offset" (A), "scale" (B, the coefficient of x_hat), "noise" (rms of the residual),
    #                 "total" (a per-feature reduction beyond its probabilistic bound), "element" (one
    #                 output beyond it) or "shared scale" (a relative error shared by all outputs)
    feature: int
    fitted: float
    allowed: float  # bound + Z se + floor

    def describe(self) -> str:
        what = {"offset": "per-feature offset", "scale": "per-feature scale of x_hat",
                "noise": "rms error beyond those",
                "total": "error beyond the probabilistic bound",
                "element": "error beyond the probabilistic bound",
                "shared scale": "relative error shared by all outputs"}[self.component]
        where = ("all outputs" if self.component == "shared scale" else
                 f"element {self.feature}" if self.component == "element" else f"feature {self.feature}")
        return (f"{where}: {what} {self.fitted:.3g}, allowed {self.allowed:.3g} "
                f"({abs(self.fitted) / self.allowed:.3g}x)")


class Findings(list):
    """The findings of one check, and its ``margin``: the largest |fitted| / allowed over every
    component it checked, passing or not (1 is the edge; None when nothing was checked). The margin
    is what the results record as ``max_stat_ratio``: how close an honest result came."""

    def __init__(self, findings=(), margin: float | None = None):
        super().__init__(findings)
        self.margin = margin


def margin_of(fitted, allowed) -> float | None:
    """max |fitted| / allowed over the finite entries (None when there are none)."""
    f, a = (np.abs(np.asarray(v, np.float64)).reshape(-1) for v in np.broadcast_arrays(fitted, allowed))
    keep = np.isfinite(f) & np.isfinite(a)
    if not keep.any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(a[keep] > 0, f[keep] / np.where(a[keep] > 0, a[keep], 1.0), np.where(f[keep] > 0, np.inf, 0.0))
    return float(ratio.max())


def joined(*parts: "Findings") -> "Findings":
    """Several checks' findings as one, with the largest margin."""
    margins = [p.margin for p in parts if getattr(p, "margin", None) is not None]
    return Findings([f for p in parts for f in p], max(margins) if margins else None)


def prob_gamma(n, u_acc: float) -> np.ndarray:
    """Higham and Mary's probabilistic gamma_n: lambda sqrt(n) u (first order)."""
    return LAMBDA * np.sqrt(np.asarray(n, np.float64)) * u_acc


def _per_feature(a: np.ndarray, axis: int) -> np.ndarray:
    """(C, m): the feature axis first, its elements flattened."""
    return np.moveaxis(np.asarray(a, np.float64), axis, 0).reshape(a.shape[axis], -1)


def distinct_enough(addends, axis: int) -> np.ndarray:
    """Per feature (C,): whether DISTINCT_FRACTION of a reduction's addends, or ENOUGH_DISTINCT, are distinct.

    Higham and Mary's model needs roundings that vary: m copies of one value (a constant feature,
    dy = 0.1 everywhere) summed in order give partial sums k c that round alike, and the sum errs
    like m u, not sqrt(m) u (measured: a sequential float32 sum of 16,384 copies of 0.1 is 1.5e-4 =
    2,590 u of the result low; the probabilistic bound allows 6 x 128 = 768 u). Half the addends
    distinct, or ENOUGH_DISTINCT of them: 16,384 normal draws rounded to bfloat16 take about 1,900
    values, in random order, and their partial sums vary; the "ints" draw takes 9, and its sums carry
    k loc and round alike. ``pool2d`` and ``conv2d`` ask the same of their whole input (``_varied``).
    """
    f = np.sort(_per_feature(addends, axis), axis=1)
    distinct = 1 + np.count_nonzero(np.diff(f, axis=1) != 0, axis=1)
    return distinct >= min(DISTINCT_FRACTION * f.shape[1], ENOUGH_DISTINCT)


def reduction_gamma(n, varied: np.ndarray, r: tolerance.Roundoff) -> np.ndarray:
    """Per feature (C,): the rounding factor of a reduction of n terms, Higham and Mary's
    lambda sqrt(n) u where the addends vary (``varied``, from ``distinct_enough``), the worst case's
    gamma_n where they repeat."""
    return np.where(varied, prob_gamma(n, r.acc), r.gamma(n))


def random_walk(terms, axis: int, independent: np.ndarray) -> np.ndarray:
    """Per feature (C,): a bound on the sum of errors bounded by ``terms`` -- lambda sqrt(sum t^2)
    where they are independent (``independent``, per feature), sum |t| where they may all lean one way."""
    t = np.abs(_per_feature(terms, axis))
    return np.where(independent, LAMBDA * np.sqrt(np.square(t).sum(axis=1)), t.sum(axis=1))


def shared_components(err, x_hat, axis: int, bound_a, bound_b, floor_a, floor_b, local, floor) -> "Findings":
    """Fit e = A + B x_hat per feature and return the components beyond their allowance.

    ``bound_*`` and ``floor_*``: per-feature arrays (C,); ``local``: the bound on each element's own
    error (the residual's rms is held to SAFETY rms(local) + floor). See the module docstring.
    """
    e = _per_feature(err, axis)
    t = _per_feature(np.broadcast_to(x_hat, np.shape(err)), axis)
    loc = _per_feature(np.broadcast_to(local, np.shape(err)), axis)
    n_features, m = e.shape
    if m < MIN_ELEMENTS:
        return Findings()
    bound_a, bound_b, floor_a, floor_b = (np.broadcast_to(np.asarray(v, np.float64).reshape(-1), (n_features,))
                                          for v in (bound_a, bound_b, floor_a, floor_b))
    # vectorized over features (sums, not BLAS dot products: no thread start-up per feature)
    finite = np.isfinite(e).all(axis=1) & np.isfinite(t).all(axis=1)
    e, t = np.where(finite[:, None], e, 0.0), np.where(finite[:, None], t, 0.0)
    t_mean = t.mean(axis=1)
    dt = t - t_mean[:, None]
    stt = np.einsum("ij,ij->i", dt, dt)
    slope = stt > 1e-6 * m
    safe_stt = np.where(slope, stt, 1.0)
    b = np.where(slope, np.einsum("ij,ij->i", dt, e) / safe_stt, 0.0)
    e_mean = e.mean(axis=1)
    resid = e - e_mean[:, None] - b[:, None] * dt
    rss = np.einsum("ij,ij->i", resid, resid)
    s2 = rss / (m - np.where(slope, 2, 1))
    a = e_mean - b * t_mean
    se_a = np.sqrt(s2 * (1.0 / m + np.where(slope, t_mean**2 / safe_stt, 0.0)))
    # the elements' own errors, if they all lean the same way (|r_i| <= SAFETY local_i, any signs):
    # |b| <= sum(|dt| L) / stt and |A| <= mean(L) + |t_mean| sum(|dt| L) / stt
    worst_local = tolerance.SAFETY * loc
    lean_b = np.where(slope, np.einsum("ij,ij->i", np.abs(dt), worst_local) / safe_stt, 0.0)
    lean_a = worst_local.mean(axis=1) + np.abs(t_mean) * lean_b
    allowed_a = bound_a + Z * se_a + np.maximum(floor_a, lean_a)
    allowed_b = bound_b + Z * np.sqrt(s2 / safe_stt) + np.maximum(floor_b, lean_b)
    rms = np.sqrt(rss / m)
    allowed_rms = tolerance.SAFETY * np.sqrt(np.einsum("ij,ij->i", loc, loc) / m) + floor
    findings = []
    for c in np.flatnonzero(finite):
        if abs(a[c]) > allowed_a[c]:
            findings.append(Finding("offset", int(c), float(a[c]), float(allowed_a[c])))
        if slope[c] and abs(b[c]) > allowed_b[c]:
            findings.append(Finding("scale", int(c), float(b[c]), float(allowed_b[c])))
        if rms[c] > allowed_rms[c]:
            findings.append(Finding("noise", int(c), float(rms[c]), float(allowed_rms[c])))
    checked = [margin_of(a[finite], allowed_a[finite]), margin_of(b[finite & slope], allowed_b[finite & slope]),
               margin_of(rms[finite], allowed_rms[finite])]
    checked = [c for c in checked if c is not None]
    return Findings(findings, max(checked) if checked else None)


class _Shared(NamedTuple):
    x_hat: np.ndarray  # the reference's x_hat
    sigma: np.ndarray  # keepdims
    e_mean: np.ndarray  # probabilistic bound on the mean's error, keepdims
    rho: np.ndarray  # bound on sigma's relative error, keepdims
    r: tolerance.Roundoff
    varied: np.ndarray | None  # per feature (C,): whether x's values vary (``distinct_enough``); training only


def _shared(x, mean, var, eps: float, axis: int, dtype: str, training: bool) -> _Shared:
    """The per-feature quantities' errors, with probabilistic reductions (module docstring):

        e_mean <= pg(m + 1) mean|x| + u |mu|
        e_var  <= pg(m + 3) var + 2 lambda u sqrt(mean(d^2 (|x| + |mu|)^2) / m) + e_mean^2 + u var

    with d = x - mu. The variance is a sum of the m non-negative d_i^2 (pg relative); the mean's
    error drops out of it to first order (sum d_i = 0); each d_i's own rounding, at most
    u (|x_i| + |mu|), moves d_i^2 by 2 |d_i| u (|x_i| + |mu|), independently of the others, so
    their mean is bounded like a mean of independent errors (lambda / sqrt(m) times their rms).
        rho    <= e_var / (2 (var + eps)) + 2 u          (training; 3 u in inference)
    """
    r = tolerance.roundoff(dtype)
    x = np.asarray(x, np.float64)
    mu = _bn.broadcast(np.asarray(mean, np.float64), x.ndim, axis)
    v = _bn.broadcast(np.asarray(var, np.float64), x.ndim, axis)
    sigma = np.sqrt(v + eps)
    x_hat = (x - mu) / sigma
    varied = distinct_enough(x, axis) if training else None
    if training:
        e_mean, e_var = batch_stat_errors(x, mean, var, axis, r, varied=varied)
        rho = 0.5 * e_var / (v + eps) + 2.0 * r.out
    else:
        e_mean, rho = np.zeros_like(mu), 3.0 * r.out + 0.0 * v
    return _Shared(x_hat, sigma, e_mean, rho, r, varied)


def bn_forward(actual, expected, x, gamma, beta, mean, var, eps: float, axis: int, dtype: str, *,
               training: bool) -> "Findings":
    """Shared error of y = gamma x_hat + beta (folded or not):

        A_bound = |gamma| e_mean / sigma + 2 u (|beta| + |gamma mu / sigma|)   (mean; shift stored)
        B_bound = |gamma| (rho + 2 u)                                          (sigma; scale stored)
    """
    x = np.asarray(x, np.float64)
    axis = axis % x.ndim
    sh = _shared(x, mean, var, eps, axis, dtype, training)
    u = sh.r.out
    g, b, mu = (_bn.broadcast(np.asarray(a, np.float64), x.ndim, axis) for a in (gamma, beta, mean))
    bound_a = np.abs(g) * sh.e_mean / sh.sigma + 2.0 * u * (np.abs(b) + np.abs(g * mu) / sh.sigma)
    bound_b = np.abs(g) * (sh.rho + 2.0 * u)
    expected = np.asarray(expected, np.float64)
    floor_a = u * np.sqrt(_per_feature(np.square(expected), axis).mean(axis=1))
    floor_b = u * np.abs(np.asarray(gamma, np.float64)).reshape(-1)
    y_scaled = g * sh.x_hat
    local = (np.abs(g) * 3.0 * u * (np.abs(x) + np.abs(mu)) / sh.sigma + 2.0 * u * (np.abs(y_scaled) + np.abs(b))
             + u * np.abs(expected))
    err = np.asarray(actual, np.float64) - expected
    return shared_components(err, sh.x_hat, axis, bound_a, bound_b, floor_a, floor_b, local, sh.r.floor)


def bn_backward_dx(actual, expected, dy, x, gamma, mean, var, eps: float, axis: int, dtype: str) -> "Findings":
    """Shared error of the training dx = s (dy - A - x_hat B), s = gamma / sigma, A = mean(dy),
    B = mean(dy x_hat). The exact dx is orthogonal to 1 and to x_hat over each feature, so the fit
    sees only the error:

        e_A    <= pg(m + 1) mean|dy| + u |A|
        e_B    <= pg(m + 2) mean|dy x_hat| + (e_mean / sigma) |A| + (rho + u) |B|
        A_bound = |s| (e_A + (e_mean / sigma) |B| + (3 u + rho) |A|)
        B_bound = |s| (e_B + (3 u + 2 rho) |B|)
    """
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    axis = axis % x.ndim
    axes = _bn.reduction_axes(x.ndim, axis)
    m = x.size // x.shape[axis]
    sh = _shared(x, mean, var, eps, axis, dtype, True)
    u = sh.r.out
    s = np.abs(_bn.broadcast(np.asarray(gamma, np.float64), x.ndim, axis)) / sh.sigma
    a = dy.mean(axis=axes, keepdims=True)
    b = (dy * sh.x_hat).mean(axis=axes, keepdims=True)
    g_a = _bn.broadcast(reduction_gamma(m + 1, distinct_enough(dy, axis), sh.r), x.ndim, axis)
    g_b = _bn.broadcast(reduction_gamma(m + 2, distinct_enough(dy * sh.x_hat, axis), sh.r), x.ndim, axis)
    e_a = g_a * np.abs(dy).mean(axis=axes, keepdims=True) + u * np.abs(a)
    e_b = (g_b * np.abs(dy * sh.x_hat).mean(axis=axes, keepdims=True)
           + sh.e_mean / sh.sigma * np.abs(a) + (sh.rho + u) * np.abs(b))
    bound_a = s * (e_a + sh.e_mean / sh.sigma * np.abs(b) + (3.0 * u + sh.rho) * np.abs(a))
    bound_b = s * (e_b + (3.0 * u + 2.0 * sh.rho) * np.abs(b))
    expected = np.asarray(expected, np.float64)
    floor_a = u * np.sqrt(_per_feature(np.square(expected), axis).mean(axis=1))
    floor_b = floor_a
    mu = _bn.broadcast(np.asarray(mean, np.float64), x.ndim, axis)
    own_x_hat = 3.0 * u * (np.abs(x) + np.abs(mu)) / sh.sigma
    local = (s * ((3.0 * u + sh.rho) * (np.abs(dy) + np.abs(a) + np.abs(sh.x_hat * b)) + own_x_hat * np.abs(b))
             + u * np.abs(expected))
    err = np.asarray(actual, np.float64) - expected
    return shared_components(err, sh.x_hat, axis, bound_a, bound_b, floor_a, floor_b, local, sh.r.floor)


def bn_param_grads(actual_dgamma, actual_dbeta, grads, dy, x, mean, var, eps: float, axis: int,
                   dtype: str) -> tuple["Findings", "Findings"]:
    """dgamma = sum dy x_hat and dbeta = sum dy (training) against probabilistic bounds: one number
    per feature, so there is nothing to fit; instead the reduction's gamma_m becomes lambda sqrt(m) u
    and x_hat's own errors (independent, at most ``local`` each) add up like a random walk:

        dbeta:  SAFETY (pg(m) sum|dy| + u |dbeta|)
        dgamma: SAFETY (pg(m + 1) sum|dy x_hat| + (e_mean / sigma) |sum dy| + rho |dgamma|
                        + lambda sqrt(sum (dy local)^2) + u |dgamma|)

    (``tolerance.bn_backward`` for the worst case, which grows like m u sum|dy x_hat|: at m = 16,384
    in float32 it allows a 10% error in dgamma.)
    """
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    axis = axis % x.ndim
    axes = _bn.reduction_axes(x.ndim, axis)
    m = x.size // x.shape[axis]
    sh = _shared(x, mean, var, eps, axis, dtype, True)
    u = sh.r.out
    mu = _bn.broadcast(np.asarray(mean, np.float64), x.ndim, axis)
    local = 3.0 * u * (np.abs(x) + np.abs(mu)) / sh.sigma

    def total(a):
        return a.sum(axis=axes)

    dgamma, dbeta = np.asarray(grads.dgamma, np.float64), np.asarray(grads.dbeta, np.float64)
    bound_dbeta = tolerance.SAFETY * (reduction_gamma(m, distinct_enough(dy, axis), sh.r) * total(np.abs(dy))
                                      + u * np.abs(dbeta)) + sh.r.floor
    bound_dgamma = tolerance.SAFETY * (
        reduction_gamma(m + 1, distinct_enough(dy * sh.x_hat, axis), sh.r) * total(np.abs(dy * sh.x_hat))
        + (sh.e_mean / sh.sigma).reshape(-1) * np.abs(total(dy))
        + sh.rho.reshape(-1) * np.abs(dgamma)
        + random_walk(dy * local, axis, sh.varied)
        + u * np.abs(dgamma)) + sh.r.floor

    return _beyond(actual_dgamma, dgamma, bound_dgamma), _beyond(actual_dbeta, dbeta, bound_dbeta)


def conv2d(actual, expected, x, w, b, *, dtype: str, **conv_kwargs) -> "Findings":
    """Each output of a convolution against the worst-case bound's terms (``tolerance.conv2d``) with
    Higham and Mary's lambda sqrt(K + 1) u for gamma_{K+1}:

        |e_y| <= SAFETY (pg(K + 1) (conv(|x|, |w|) + |b|) + u |y - b| + u |y|) + floor

    (flat indices, the first few listed). K = C_in/groups * kh * kw reaches 2,304 at production
    size, where the worst case allows sqrt(K) / lambda = 8 times more.

    Then a relative error shared by all outputs (``shared_scale``, as for pooling: weights scaled,
    a wrong normalization), with the two stored roundings (the sum before the bias, the result) as
    the outputs' own errors that may lean, u for a rounding every output shares (a transformed
    weight, Winograd's G w G^T, rounded once), and the K-term sums' errors random across outputs.
    """
    from bnconform.reference import conv as _conv

    if not _varied(x):  # repeated addends: neither model of this tier holds, the worst case does
        return Findings()
    r = tolerance.roundoff(dtype)
    w = np.asarray(w, np.float64)
    k = w.shape[1] * w.shape[2] * w.shape[3]
    expected = np.asarray(expected, np.float64)
    magnitude = _conv.conv2d(np.abs(x), np.abs(w), None, **conv_kwargs)
    if b is None:
        bias = bias_abs = 0.0
    else:
        axis = 3 if conv_kwargs.get("data_format", "channels_last") == "channels_last" else 1
        bias = _bn.broadcast(np.asarray(b, np.float64), 4, axis)
        bias_abs = np.abs(bias)
    own = (r.out * np.abs(expected - bias) if b is not None else 0.0) + r.out * np.abs(expected)
    bound = tolerance.SAFETY * (prob_gamma(k + 1, r.acc) * (magnitude + bias_abs) + own) + r.floor
    err = np.asarray(actual, np.float64) - expected
    found = _beyond(actual, expected, bound, "element")
    keep = np.isfinite(err)
    own = np.broadcast_to(own, expected.shape)
    return joined(shared_scale(err[keep], expected[keep], own[keep], r.out, r), found)  # the shared one first


def _varied(x) -> bool:
    """Whether the input's finite values, as the addends of one reduction, vary (``distinct_enough``):
    Higham and Mary's independent roundings (each output's lambda sqrt(k) u) and outputs that err
    independently (``shared_scale``) both need addends that differ."""
    x = np.asarray(x, np.float64)
    return bool(distinct_enough(x[np.isfinite(x)].reshape(-1, 1), 1)[0])


def _beyond(actual, expected, bound, component: str = "total") -> "Findings":
    """Findings for the entries of ``actual`` farther than ``bound`` from ``expected`` (flat indices)."""
    err = np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64)).reshape(-1)
    bound = np.broadcast_to(np.asarray(bound, np.float64), np.shape(expected)).reshape(-1)
    return Findings([Finding(component, int(i), float(err[i]), float(bound[i]))
                     for i in np.flatnonzero(np.isfinite(err) & (err > bound))], margin_of(err, bound))


def batch_stat_errors(x, mean, var, axis: int, r: tolerance.Roundoff, *,
                      varied: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Probabilistic bounds on the batch mean and biased variance per feature (keepdims), as in
    ``_shared`` (its docstring derives them):

        e_mean <= pg(m + 1) mean|x| + u |mu|
        e_var  <= pg(m + 3) var + 2 lambda u_acc sqrt(mean(d^2 (|x| + |mu|)^2) / m) + e_mean^2 + u var

    pg(n) = lambda sqrt(n) u_acc replaces the worst case's gamma_n for the two reductions; the mean
    and the variance, each stored once in the dtype, keep their deterministic u. For a feature whose
    values repeat (``distinct_enough``) the reductions keep gamma_n and the own errors add up in full
    (``random_walk``); ``varied`` is ``distinct_enough(x, axis)`` when the caller has it.
    """
    axes = _bn.reduction_axes(x.ndim, axis)
    m = x.size // x.shape[axis]
    mu = _bn.broadcast(np.asarray(mean, np.float64), x.ndim, axis)
    v = _bn.broadcast(np.asarray(var, np.float64), x.ndim, axis)
    varied = distinct_enough(x, axis) if varied is None else varied
    g_mean, g_var = (_bn.broadcast(reduction_gamma(n, varied, r), x.ndim, axis) for n in (m + 1, m + 3))
    e_mean = g_mean * np.abs(x).mean(axis=axes, keepdims=True) + r.out * np.abs(mu)
    own = 2.0 * r.acc * random_walk(np.abs(x - mu) * (np.abs(x) + np.abs(mu)), axis, varied) / m
    return e_mean, g_var * v + _bn.broadcast(own, x.ndim, axis) + e_mean**2 + r.out * v


def moving_stats(actual_mean, actual_var, batches, init_mean, init_var, results, *, axis: int, dtype: str,
                 weights_old, unbiased: bool) -> tuple["Findings", "Findings"]:
    """The moving mean and variance after len(batches) updates new = a old + (1 - a) stat, per
    feature, against ``tolerance.moving_stats``'s bound with the batch statistics' errors from the
    probabilistic ``batch_stat_errors`` (lambda sqrt(m) u for the reductions over m values instead of
    m u). Each update's own arithmetic keeps its deterministic terms -- every one of them is a rounding
    of one number, stored once, that nothing averages:

        |e_new| <= a |e_old| + (1 - a) |e_stat| + 3 u (|a old| + |(1 - a) stat|) + u |new|
                   + u (|old| + |stat|)                                        (the momentum rounded)

    with e_stat for the variance scaled by m / (m - 1) and 2 u of the scaled variance added when
    ``unbiased``. One number per feature: nothing to fit, each is held to SAFETY times its bound plus
    the underflow floor ("total" findings, one per feature and statistic). At m = 16,384 in float32
    the worst case allows m u = 1e-3 of mean|x| for the batch mean, this 4.6e-5.
    """
    r = tolerance.roundoff(dtype)
    e_mean, e_var = tolerance.carried_moving_errors(
        batches, init_mean, init_var, results, axis=axis, weights_old=weights_old, unbiased=unbiased, r=r,
        batch_errors=lambda x, mean, var, ax: batch_stat_errors(x, mean, var, ax, r))
    final = results[-1]
    bound_mean = tolerance.SAFETY * e_mean + r.floor
    bound_var = tolerance.SAFETY * e_var + r.floor
    return _beyond(actual_mean, final.mean, bound_mean), _beyond(actual_var, final.var, bound_var)


def pool2d(actual, expected, kind: str, x, *, dtype: str, window=None, **pool_kwargs) -> "Findings":
    """Each output of an average or global-average pooling against the worst-case bound's terms
    (``tolerance.pool2d``) with Higham and Mary's lambda sqrt(k) u for the sum of the window's k
    values (k = kh kw, or H W for global pooling, along the case's data_format):

        |e_y| <= SAFETY (pg(k) avg(|x|) + 2 u_acc |y| + u |y|) + floor

    avg(|x|) is the reference's pooling of |x| (the sum's condition, divided by the divisor);
    2 u_acc |y| is the division by the divisor, or the product with its rounded reciprocal (two
    roundings of the value, each of one number, so deterministic); u |y| stores the result in the
    dtype. The worst case has gamma_{k+1} avg(|x|) instead: pg(k) is smaller once k > lambda^2 = 36,
    so this tightens global pooling (k = 1,024 at production size: 6 x 32 = 192 u against 1,025 u)
    and changes nothing for small windows, where the worst case, checked too, is the tighter one.
    Max pooling has no arithmetic (its bound is 0) and Lp pooling's windows are small: neither
    has anything to gain, and an empty list is returned for them.
    """
    if kind not in ("avg", "global_avg"):
        return Findings()
    from bnconform.reference import pool as _pool

    if not _varied(x):  # repeated addends: neither model of this tier holds, the worst case does
        return Findings()
    r = tolerance.roundoff(dtype)
    x = np.asarray(x, np.float64)
    expected = np.asarray(expected, np.float64)
    if kind == "global_avg":
        fmt = pool_kwargs.get("data_format", "channels_last")
        k = x.shape[1] * x.shape[2] if fmt == "channels_last" else x.shape[2] * x.shape[3]
        magnitude = _pool.global_avg_pool2d(np.abs(x), data_format=fmt)
    else:
        kh, kw = (window, window) if np.isscalar(window) else window
        k = kh * kw
        magnitude = _pool.avg_pool2d(np.abs(x), window, **pool_kwargs)
    own = (2.0 * r.acc + r.out) * np.abs(expected)
    bound = tolerance.SAFETY * (prob_gamma(k, r.acc) * magnitude + own) + r.floor
    with np.errstate(invalid="ignore"):
        found = _beyond(actual, expected, np.where(np.isfinite(magnitude), bound, np.inf), "element")
        err = np.asarray(actual, np.float64) - expected
    keep = np.isfinite(err) & np.isfinite(magnitude)
    return joined(shared_scale(err[keep], expected[keep], own[keep], r.out, r), found)  # the shared one first


def shared_scale(err, expected, own, bound: float, r: tolerance.Roundoff) -> "Findings":
    """A relative error shared by all outputs of a reduction op (pooling, convolution), fitted through
    the origin:

        e_i = B y_i + r_i,   B = sum e_i y_i / sum y_i^2,   se(B) = sqrt(sum r_i^2 / (n - 1) / sum y_i^2)

    and held to |B| <= bound + Z se(B) + max(u, SAFETY sum |y_i| own_i / sum y_i^2). A divisor
    off by one, a constant factor, an average over the wrong count: each is a B. What honest rounding
    gives B:

    - ``bound``: a rounding shared by every output -- pooling's reciprocal of the divisor, or a
      convolution's transformed weights, rounded once to the dtype (u): a value stored once keeps
      its deterministic u;
    - each output's reduction error (Higham and Mary's model: independent, mean-zero roundings) is
      independent across outputs whose windows differ, so it enters through the residual r and
      se(B), shrinking like 1 / sqrt(n);
    - the outputs' own roundings (``own``: the division, storing the result) may all lean the same
      way on structured data (one binade of the dtype's grid rounds alike), so they are allowed in
      full, as ``shared_components``' floor: SAFETY own_i on every output, all with one sign.

    Higham and Mary's model needs addends that vary in their low-order bits. Outputs computed from
    identical windows have identical reduction errors, which the fit cannot average: with fewer than
    MIN_ELEMENTS distinct expected values (a constant input gives one) the fit is not made. An input
    made of a few repeated values does the same more subtly: with x = loc + integer (the "ints"
    draw), every window's partial sums carry j loc and round alike (measured: a float32 global
    average over 1,024 such values, summed sequentially, is 6.3e-6 = 100 u low on every output), so
    ``pool2d`` and ``conv2d`` make the fit only when at least DISTINCT_FRACTION of the input's values are distinct.
    Where it is not made, the element-wise probabilistic bound still holds.
    """
    err, y, own = (np.asarray(a, np.float64).reshape(-1) for a in (err, expected, own))
    syy = float(np.dot(y, y))
    if np.unique(y).size < MIN_ELEMENTS or syy == 0.0:
        return Findings()
    b = float(np.dot(err, y)) / syy
    resid = err - b * y
    se = np.sqrt(float(np.dot(resid, resid)) / (y.size - 1) / syy)
    lean = max(r.out, tolerance.SAFETY * float(np.dot(np.abs(y), own)) / syy)
    allowed = bound + Z * se + lean
    return Findings([Finding("shared scale", 0, b, allowed)] if abs(b) > allowed else [], margin_of(b, allowed))
