"""Float64 tolerances for proving the reference: two float64 computations of the same quantity.

The one model, written down once (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
Lemma 3.1 and Section 3.1): a float64 computation whose result goes through a chain of at most ``n``
roundings, each of relative size at most the unit roundoff u = 2**-53, and whose intermediate quantities,
propagated to the result, have absolute size at most ``M``, is within gamma_n * M of the exact value,
gamma_n = n u / (1 - n u). Two such computations of one quantity (the reference and the naive loops, or
the two sides of a metamorphic relation) differ by at most ``bound(n, M) = 2 gamma_n M``. That is the only
place a tolerance is made; the functions below only say, per quantity, what ``n`` (the reduction length
plus the few elementwise operations after it) and ``M`` (the magnitudes, including the conditioning) are.
There is no safety factor: the first-order bounds below are worst cases, already far above typical errors.

Magnitudes are computed with plain NumPy (``np.mean``, ``np.var``, ``np.abs``) or with the naive loops,
never with ``bnconform/reference/``. Max pooling selects an input value and is compared exactly, with no tolerance.

The central-difference model for gradients is at the end of this module (``fd_*``).
"""

from __future__ import annotations

import numpy as np

import naive

U = 2.0**-53  # unit roundoff of float64


def gamma(n) -> float:
    """gamma_n = n u / (1 - n u)."""
    return n * U / (1 - n * U)


def bound(n, magnitude) -> np.ndarray:
    """Largest honest |a - b| between two float64 evaluations: 2 gamma_n M (see the module docstring)."""
    return 2.0 * gamma(n) * np.asarray(magnitude, dtype=np.float64)


def assert_close(actual, expected, tol, what: str) -> None:
    """|actual - expected| <= tol element-wise; NaN matches NaN and an infinity matches itself."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), expected.shape)
    same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    with np.errstate(invalid="ignore"):
        err = np.abs(actual - expected)
        ok = same | (err <= tol)
    if not ok.all():
        bad = np.argwhere(~ok)
        i = tuple(bad[0])
        raise AssertionError(
            f"{what}: {len(bad)} of {ok.size} elements differ; first at {i}: "
            f"actual {actual[i]!r}, expected {expected[i]!r}, |diff| {err[i]!r} > tol {tol[i]!r}"
        )


# ----------------------------------------------------------------------------------------------------
# batch normalization


def _per_channel(x: np.ndarray, axis: int, eps: float):
    """NumPy per-feature statistics, shaped to broadcast against x: mu, var, sigma, max|x|, m."""
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return mu, var, np.sqrt(var + eps), np.abs(x).max(axis=axes, keepdims=True), x.size // x.shape[axis]


def _shaped(v, x: np.ndarray, axis: int) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0:
        return v
    shape = [1] * x.ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def xhat_error_magnitude(x, eps: float, axis: int) -> tuple[np.ndarray, int]:
    """x_hat = (x - mu) / sigma computed in float64 is within (m + 6) u Xi of the exact value, with

        Xi = kappa (1 + |x_hat|) + |x_hat|,   kappa = 2 max|x| / sigma   (per feature)

    Derivation: mu is a sum of m terms, |mu' - mu| <= gamma_m max|x|, so x - mu carries an absolute
    error (m + 2) u max|x|; the variance, a mean of m squares of those, has
    |var' - var| <= (m + 3) u var + 2 u std (max|x| + |mu|) (the error of mu cancels to first order
    since sum (x - mu) = 0), hence sigma has relative error (m + 3) u var / (2 sigma^2) + u kappa + 2u;
    x_hat = d / sigma inherits d's error / sigma and |x_hat| times sigma's. kappa is the conditioning:
    a large offset relative to the spread gives a large, honest bound.
    """
    x = np.asarray(x, dtype=np.float64)
    mu, var, sigma, amax, m = _per_channel(x, axis, eps)
    xhat = (x - mu) / sigma
    kappa = 2.0 * amax / sigma
    return kappa * (1.0 + np.abs(xhat)) + np.abs(xhat), m


def variance_magnitude(var, amax, m: int) -> np.ndarray:
    """M for a two-pass variance of m values: var + 4 std max|x| (first order, see
    ``xhat_error_magnitude``) + (m + 2) u max|x|^2, which holds the square of the deviations' own
    error ((m + 2) u max|x|)^2 and is the whole error when the spread is at roundoff level."""
    return var + 4 * np.sqrt(var) * amax + (m + 2) * U * amax**2


def batch_stats(x, axis: int):
    """Tolerances for the per-feature (mean, biased var) of x, as ``xhat_error_magnitude`` derives them:
    mean: n = m + 1, M = mean|x|; var: n = m + 3, M = ``variance_magnitude``."""
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    _, var, _, amax, m = _per_channel(x, axis, 0.0)
    return (
        bound(m + 1, np.abs(x).mean(axis=axes)),
        bound(m + 3, variance_magnitude(var, amax, m).reshape(-1)),
    )


def bn_train_y(x, gamma_, beta, eps: float, axis: int) -> np.ndarray:
    """y = gamma x_hat + beta: n = m + 6, M = |gamma| (Xi + |x_hat|) + |beta| (one multiply, one add)."""
    x = np.asarray(x, dtype=np.float64)
    xi, m = xhat_error_magnitude(x, eps, axis)
    mu, _, sigma, _, _ = _per_channel(x, axis, eps)
    g, b = np.abs(_shaped(gamma_, x, axis)), np.abs(_shaped(beta, x, axis))
    return bound(m + 6, g * (xi + np.abs(x - mu) / sigma) + b)


def bn_inference_y(x, gamma_, beta, mean, var, eps: float, axis: int) -> np.ndarray:
    """y = gamma (x - mean) / sqrt(var + eps) + beta: six roundings (subtract, add eps, sqrt, divide,
    multiply, add) on magnitudes |gamma| (|x| + |mean|) / sigma for the difference and |y| for the rest."""
    x = np.asarray(x, dtype=np.float64)
    g, b = np.abs(_shaped(gamma_, x, axis)), np.abs(_shaped(beta, x, axis))
    mean, sigma = _shaped(mean, x, axis), np.sqrt(_shaped(var, x, axis) + eps)
    return bound(6, g * (np.abs(x) + np.abs(mean)) / sigma + g * np.abs(x - mean) / sigma + b)


def bn_train_grads(dy, x, gamma_, eps: float, axis: int):
    """Tolerances for (dx, dgamma, dbeta) of training-mode BN.

    dx = (gamma / sigma) (dy - mean(dy) - x_hat mean(dy x_hat)) (or the paper's chain rule, the same
    terms in another order): with X = |x_hat| + Xi (x_hat plus its error magnitude),
        M_dx = |gamma| / sigma (1 + kappa) (|dy| + mean|dy| + X mean(|dy| X)),   n = m + 10;
    dgamma = sum dy x_hat: M = sum |dy| X, n = 2m + 6 (x_hat's chain, then the sum);
    dbeta = sum dy: M = sum |dy|, n = m.
    """
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    xi, m = xhat_error_magnitude(x, eps, axis)
    mu, _, sigma, amax, _ = _per_channel(x, axis, eps)
    big_x = np.abs(x - mu) / sigma + xi
    kappa = 2.0 * amax / sigma
    g = np.abs(_shaped(gamma_, x, axis))
    ady = np.abs(dy)
    m_dx = g / sigma * (1 + kappa) * (
        ady + ady.mean(axis=axes, keepdims=True) + big_x * (ady * big_x).mean(axis=axes, keepdims=True)
    )
    return (
        bound(m + 10, m_dx),
        bound(2 * m + 6, (ady * big_x).sum(axis=axes)),
        bound(m, ady.sum(axis=axes)),
    )


def bn_inference_grads(dy, x, gamma_, mean, var, eps: float, axis: int):
    """dx = gamma dy / sigma: 5 roundings (add eps, sqrt, reciprocal, two multiplies) on |gamma dy / sigma|;
    dgamma = sum dy x_hat with x_hat from ``bn_inference_y``'s chain: n = m + 4,
    M = sum |dy| (|x| + |mean|) / sigma; dbeta = sum dy: n = m."""
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    m = x.size // x.shape[axis]
    g = np.abs(_shaped(gamma_, x, axis))
    mean, sigma = _shaped(mean, x, axis), np.sqrt(_shaped(var, x, axis) + eps)
    ady = np.abs(dy)
    return (
        bound(5, g * ady / sigma),
        bound(m + 4, (ady * (np.abs(x) + np.abs(mean)) / sigma).sum(axis=axes)),
        bound(m, ady.sum(axis=axes)),
    )


def bn_output_moments(x, gamma_, beta, eps: float, axis: int):
    """Tolerances for the per-feature mean and variance of the training-mode output y.

    mean(y') - beta: each y' is within gamma_{m+6} M_y of y (``bn_train_y``), and the mean of m of them
    adds gamma_m mean|y|, so n = 2m + 6, M = mean(M_y).
    var(y') against gamma^2 var / (var + eps) evaluated from np.var(x): var(y + e) - var(y) is at most
    2 std(y) max|e| to first order; np.var of the m values y' adds gamma_{m+3} var(y) and, as in
    ``variance_magnitude``, (m + 2) u max|y|^2 (all of it when gamma = 0 makes y constant); and the expected value
    carries np.var's error times d/dvar[gamma^2 var / (var + eps)] <= gamma^2 / sigma^2, i.e.
    gamma^2 / sigma^2 ((m + 3) u var + 4 u std max|x|). So n = 2m + 6 and
    M = 2 std(y) max(M_y) + (m + 2) u max(M_y)^2 + gamma^2 ``variance_magnitude`` / sigma^2.
    """
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    xi, m = xhat_error_magnitude(x, eps, axis)
    mu, var, sigma, amax, _ = _per_channel(x, axis, eps)
    g, b = np.abs(_shaped(gamma_, x, axis)), np.abs(_shaped(beta, x, axis))
    m_y = g * (xi + np.abs(x - mu) / sigma) + b
    std_y = g * np.sqrt(var) / sigma
    my_max = m_y.max(axis=axes, keepdims=True)
    mag_var = 2 * std_y * my_max + (m + 2) * U * my_max**2 + g**2 * variance_magnitude(var, amax, m) / sigma**2
    return bound(2 * m + 6, m_y.mean(axis=axes)), bound(2 * m + 6, mag_var.reshape(-1))


# ----------------------------------------------------------------------------------------------------
# moving statistics


def ema(batches, init_mean, init_var, *, convention: str, axis: int, steps: int | None = None):
    """Tolerances for the moving (mean, var) after feeding ``batches``.

    Each batch statistic s is within gamma_{m+3} M_s of exact (M_s = mean|x| for the mean;
    f ``variance_magnitude`` for the variance, f = m / (m - 1) for the unbiased "torch" variance, as in
    ``xhat_error_magnitude``); the update a old + (1 - a) s passes it on with weights summing to <= 1,
    and each of the K updates adds at most 3 roundings on values bounded by V = max(|init|, |s|). So
    n = m + 3 + 3K and M = max M_s + V. (The cumulative average divides a sum of K + 1 terms: the same.)
    K = ``steps`` when the batches are fed repeatedly, else len(batches).
    """
    k = len(batches) if steps is None else steps
    m_mean = m_var = v_mean = v_var = 0.0
    m = 1
    for xb in batches:
        xb = np.asarray(xb, dtype=np.float64)
        mu, var, _, amax, m = _per_channel(xb, axis, 0.0)
        f = m / (m - 1) if convention == "torch" and m > 1 else 1.0
        axes = tuple(a for a in range(xb.ndim) if a != axis % xb.ndim)
        s_mean = np.abs(xb).mean(axis=axes).reshape(-1)
        s_var = (f * variance_magnitude(var, amax, m)).reshape(-1)
        m_mean, m_var = np.maximum(m_mean, s_mean), np.maximum(m_var, s_var)
        v_mean = np.maximum(v_mean, np.abs(mu).reshape(-1))
        v_var = np.maximum(v_var, f * var.reshape(-1))
    n = m + 3 + 3 * k
    v_mean = np.maximum(v_mean, np.abs(np.asarray(init_mean, dtype=np.float64)))
    v_var = np.maximum(v_var, np.abs(np.asarray(init_var, dtype=np.float64)))
    return bound(n, m_mean + v_mean), bound(n, m_var + v_var)


# ----------------------------------------------------------------------------------------------------
# convolution and pooling


def conv(x, w, b=None, *, groups: int = 1, data_format: str = "channels_last") -> np.ndarray:
    """One output of a convolution is a dot product of G kh kw terms plus the bias:
    n = G kh kw + 1, M[o] = max|x| sum_{c,p,q} |w[o,c,p,q]| + |b[o]| (an upper bound of sum |w x|),
    shaped to broadcast against the output in ``data_format``."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    c_out, g, kh, kw = w.shape
    mag = np.abs(x).max(initial=0.0) * np.abs(w).sum(axis=(1, 2, 3))
    if b is not None:
        mag = mag + np.abs(np.asarray(b, dtype=np.float64))
    shape = (1, c_out, 1, 1) if data_format == "channels_first" else (1, 1, 1, c_out)
    return bound(g * kh * kw + 1, mag.reshape(shape))


def avg_pool(x, window, stride=None, **kwargs) -> np.ndarray:
    """A window average is a sum of at most kh kw terms and one division: n = kh kw + 1,
    M = the same average of |x| (from the naive loops), i.e. sum |x| / count."""
    kh, kw = (window, window) if isinstance(window, int) else window
    return bound(kh * kw + 1, naive.pool2d(np.abs(np.asarray(x, dtype=np.float64)), "avg", window, stride, **kwargs))


def lp_pool(y_exact, window, p: float) -> np.ndarray:
    """(sum |x|^p)^(1/p): each power is within 2u (libm pow, taken as 2 roundings), the sum of positive
    terms adds (k - 1) u, and the root turns a relative error r of the sum S into r / p, plus its own 2u;
    the exponent 1/p is itself rounded (relative u), which moves S^(1/p) by a relative u |ln S| / p =
    u |ln y|. In units of u: (k + 1) / p + 2 + |ln y|, so n = that and M = |y|."""
    kh, kw = (window, window) if isinstance(window, int) else window
    y = np.abs(np.asarray(y_exact, dtype=np.float64))
    with np.errstate(divide="ignore"):
        log_y = np.where(y > 0, np.abs(np.log(np.where(y > 0, y, 1.0))), 0.0)
    return bound((kh * kw + 1) / p + 2 + log_y, y)


def mean_of(values, n: int) -> np.ndarray:
    """A mean of n terms: n = n + 1 (the division), M = mean |value| (``values`` already |.|-averaged)."""
    return bound(n + 1, values)


# ----------------------------------------------------------------------------------------------------
# central differences
#
# For a smooth f, the central difference D(h) = (f(x + h) - f(x - h)) / (2h) satisfies
#
#     |D(h) - f'(x)| <= (h^2 / 6) sup_{|t| <= h} |f'''(x + t)| + e_f / h,
#
# the first term the truncation error (Taylor), the second the roundoff: each evaluation of f is off by
# at most e_f (an absolute error from the model above), and the difference is divided by 2h. If f has
# the natural length scale s (f^(k) ~ F / s^k for a function of size F), the sum is smallest near
# h ~ cbrt(3 e_f / |f'''|) ~ cbrt(u) s, so we take h = cbrt(u) s: the error is then O(u^(2/3)) F / s,
# about 4e-11 relative, and a wrong analytic derivative (an O(1/m) or O(1) relative error) cannot hide.
# The step is made exactly representable: h is replaced by (x + h) - x before it is used.


def fd_step(scale) -> np.ndarray:
    """h = cbrt(u) * scale."""
    return np.cbrt(U) * np.asarray(scale, dtype=np.float64)


def fd_tolerance(h, third_derivative_bound, f_error, analytic_tol) -> np.ndarray:
    """(h^2 / 6) sup|f'''| + e_f / h, plus the analytic derivative's own float64 error."""
    return np.asarray(h) ** 2 / 6 * third_derivative_bound + np.asarray(f_error) / h + analytic_tol


def bn_train_fd_third_derivative(dy, x, gamma_, eps: float, axis: int) -> np.ndarray:
    """A bound on |d^3 L / dx_i^3| for L = sum_j dy_j y_j (the feature of x_i), training mode.

    Moving x_i by t moves mu by t/m and the variance to var + 2 t d_i / m + t^2 (m - 1) / m^2 (d = x - mu),
    while sum_j dy_j (x_j - mu) grows linearly, A(t) = A0 + B t, B = dy_i - mean(dy). So
    L(t) = gamma A(t) s(t) + const with s = (var(t) + eps)^(-1/2) = r(t/sigma)^(-1/2) / sigma,
    r(tau) = 1 + 2 tau x_hat_i / m + tau^2 (m - 1) / m^2, and L''' = gamma (A s''' + 3 B s'').
    With a = r'(0) = 2 x_hat_i / m, b = r'' <= 2 / m and x_hat_i^2 <= m:
        |(r^-1/2)'''| <= 15/8 |a|^3 + 9/4 |a| b <= 24 |x_hat_i| / m^2,   |(r^-1/2)''| <= 3/4 a^2 + b/2 <= 4 / m,
    so |L'''| <= |gamma| / sigma^3 (24 |x_hat_i| |sum_j dy_j x_hat_j| / m^2 + 12 |B| / m). Over
    |t| <= h = cbrt(u) sigma, r stays within 1e-4 of 1, which the factor 2 below covers.
    """
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    mu, _, sigma, _, m = _per_channel(x, axis, eps)
    xhat = (x - mu) / sigma
    g = np.abs(_shaped(gamma_, x, axis))
    s1 = np.abs((dy * xhat).sum(axis=axes, keepdims=True))
    big_b = np.abs(dy - dy.mean(axis=axes, keepdims=True))
    return 2.0 * g / sigma**3 * (24 * np.abs(xhat) * s1 / m**2 + 12 * big_b / m)


def bn_train_loss_error(dy, x, gamma_, beta, eps: float, axis: int) -> np.ndarray:
    """e_f for L_c = sum_{j in c} dy_j y_j: sum_j |dy_j| (error of y_j) plus the sum's own rounding:
    gamma_{2m + 6} sum_j |dy_j| M_y,j per feature (``bn_train_y``'s M, which is >= |y|)."""
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    xi, m = xhat_error_magnitude(x, eps, axis)
    mu, _, sigma, _, _ = _per_channel(x, axis, eps)
    g, b = np.abs(_shaped(gamma_, x, axis)), np.abs(_shaped(beta, x, axis))
    m_y = g * (xi + np.abs(x - mu) / sigma) + b
    return gamma(2 * m + 6) * (np.abs(dy) * m_y).sum(axis=axes)


def bn_inference_loss_error(dy, x, gamma_, beta, mean, var, eps: float, axis: int) -> np.ndarray:
    """e_f for L_c = sum_{j in c} dy_j y_j in inference mode: gamma_{m + 6} sum_j |dy_j| M_y,j."""
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    m = x.size // x.shape[axis]
    g, b = np.abs(_shaped(gamma_, x, axis)), np.abs(_shaped(beta, x, axis))
    mean, sigma = _shaped(mean, x, axis), np.sqrt(_shaped(var, x, axis) + eps)
    m_y = g * (np.abs(x) + np.abs(mean)) / sigma + g * np.abs(x - mean) / sigma + b
    return gamma(m + 6) * (np.abs(dy) * m_y).sum(axis=axes)



def true_conv_commuted(x2d, k2d) -> float:
    """x * k computed as 'x under the kernel k' (kh kw terms per output) or as 'k under the kernel x'
    (H W terms): each side is within gamma_n sum|k x| of the exact full convolution, and
    sum|k x| <= min(max|x| sum|k|, max|k| sum|x|); so n = max(kh kw, H W) + 1 and M = that minimum."""
    x2d, k2d = np.abs(np.asarray(x2d, dtype=np.float64)), np.abs(np.asarray(k2d, dtype=np.float64))
    n = max(x2d.size, k2d.size) + 1
    return float(bound(n, min(x2d.max() * k2d.sum(), k2d.max() * x2d.sum())))


def bn_dx_sums(dy, x, gamma_, eps: float, axis: int, dx, dgamma):
    """Tolerances for sum_i dx_i = 0 and sum_i dx_i x_hat_i = gamma eps dgamma / sigma^3 (per feature).

    Each computed dx_i is within t_i = ``bn_train_grads``' dx bound of the exact one, and the test's own
    x_hat within gamma_{m+6} Xi (``xhat_error_magnitude``); summing m products adds gamma_m of their
    absolute sum. So: sum dx: sum t + 2 gamma_m sum |dx|; sum dx x_hat: sum (t |x_hat| + |dx| 2 gamma_{m+6} Xi)
    + 2 gamma_m sum |dx x_hat|, plus the right-hand side's error: dgamma's bound times |gamma| eps / sigma^3
    and 5 roundings on its value.
    """
    x = np.asarray(x, dtype=np.float64)
    dx = np.asarray(dx, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    tol_dx, tol_dgamma, _ = bn_train_grads(dy, x, gamma_, eps, axis)
    xi, m = xhat_error_magnitude(x, eps, axis)
    mu, _, sigma, _, _ = _per_channel(x, axis, eps)
    axhat = np.abs(x - mu) / sigma
    g = np.abs(np.broadcast_to(np.asarray(gamma_, dtype=np.float64), (x.shape[axis],)))
    s3 = sigma.reshape(-1) ** 3
    rhs = g * eps * np.abs(np.asarray(dgamma)) / s3
    tol_sum = tol_dx.sum(axis=axes) + bound(m, np.abs(dx).sum(axis=axes))
    tol_dot = ((tol_dx * axhat + np.abs(dx) * bound(m + 6, xi)).sum(axis=axes)
               + bound(m, (np.abs(dx) * axhat).sum(axis=axes)) + tol_dgamma * g * eps / s3 + bound(5, rhs))
    return tol_sum, tol_dot
