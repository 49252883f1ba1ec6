"""Second, naive implementations of the reference ops, written from the defining equations.

Plain Python loops over scalars (Python floats), one output element at a time, for small shapes.
Nothing here is derived from the vectorized code in ``bnconform/reference/``: no ``reference`` import, no
``np.einsum``/``sliding_window_view``/``np.pad``; NumPy is used only to hold arrays. Where the two
could be written alike, this module takes the other road on purpose:

- batch-norm backward follows the paper's chain rule (Ioffe and Szegedy 2015, Section 3: d x_hat,
  d sigma^2, d mu, then dx), not the collapsed one-line formula of ``bnconform.reference.batch_norm_backward``;
- the cumulative moving average (``momentum=None``) is the plain average of all batch statistics seen,
  not the incremental ``old + (new - old) / k``;
- true convolution indexes the input *backwards*, ``y[t] = sum_j w[j] x[t - j]``, instead of flipping
  the kernel;
- pooling enumerates window start positions from the stated rules (floor: the window fits; ceil: keep
  adding windows while the previous one stops short of the end, then drop a last one that starts in the
  end padding) and classifies every tap as data, padding or overhang.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

# ----------------------------------------------------------------------------------------------------
# batch normalization


def _channels(shape: tuple[int, ...], axis: int) -> dict[int, list[tuple[int, ...]]]:
    """For each feature c, the list of multi-indices of the batch B_c that share it."""
    axis %= len(shape)
    groups: dict[int, list[tuple[int, ...]]] = {c: [] for c in range(shape[axis])}
    for idx in itertools.product(*(range(s) for s in shape)):
        groups[idx[axis]].append(idx)
    return groups


def _vec(v, c: int) -> list[float]:
    a = np.asarray(v, dtype=np.float64)
    return [float(a)] * c if a.ndim == 0 else [float(t) for t in a]


def batch_moments(x, axis: int) -> tuple[list[float], list[float], int]:
    """mu_B = (1/m) sum x_i and sigma_B^2 = (1/m) sum (x_i - mu_B)^2 per feature; returns (mu, var, m)."""
    x = np.asarray(x, dtype=np.float64)
    means, variances, m = [], [], 0
    for _, idxs in sorted(_channels(x.shape, axis).items()):
        m = len(idxs)
        mu = sum(float(x[i]) for i in idxs) / m
        var = sum((float(x[i]) - mu) ** 2 for i in idxs) / m
        means.append(mu)
        variances.append(var)
    return means, variances, m


def batch_norm_train(x, gamma, beta, eps: float, axis: int) -> np.ndarray:
    """Algorithm 1: x_hat = (x - mu_B) / sqrt(sigma_B^2 + eps), y = gamma * x_hat + beta."""
    mus, vars_, _ = batch_moments(x, axis)
    return batch_norm_inference(x, gamma, beta, mus, vars_, eps, axis)


def batch_norm_inference(x, gamma, beta, mean, var, eps: float, axis: int) -> np.ndarray:
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, element by element."""
    x = np.asarray(x, dtype=np.float64)
    c = x.shape[axis]
    g, b, mu, v = _vec(gamma, c), _vec(beta, c), _vec(mean, c), _vec(var, c)
    y = np.empty_like(x)
    for ch, idxs in _channels(x.shape, axis).items():
        sigma = math.sqrt(v[ch] + eps)
        for i in idxs:
            y[i] = g[ch] * ((float(x[i]) - mu[ch]) / sigma) + b[ch]
    return y


def batch_norm_train_backward(dy, x, gamma, eps: float, axis: int):
    """The paper's backward pass (Section 3), one partial derivative at a time:

        dx_hat_i = dy_i * gamma
        dvar     = sum_i dx_hat_i * (x_i - mu) * (-1/2) * (var + eps)^(-3/2)
        dmu      = sum_i dx_hat_i * (-1 / sqrt(var + eps)) + dvar * sum_i (-2 (x_i - mu)) / m
        dx_i     = dx_hat_i / sqrt(var + eps) + dvar * 2 (x_i - mu) / m + dmu / m
        dgamma   = sum_i dy_i * x_hat_i,   dbeta = sum_i dy_i

    Returns (dx, dgamma, dbeta).
    """
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    c = x.shape[axis]
    g = _vec(gamma, c)
    mus, vars_, _ = batch_moments(x, axis)
    dx = np.empty_like(x)
    dgamma, dbeta = [0.0] * c, [0.0] * c
    for ch, idxs in _channels(x.shape, axis).items():
        m = len(idxs)
        mu, var = mus[ch], vars_[ch]
        dxhat = {i: float(dy[i]) * g[ch] for i in idxs}
        dvar = sum(dxhat[i] * (float(x[i]) - mu) for i in idxs) * (-0.5) * (var + eps) ** -1.5
        dmu = sum(dxhat[i] * (-1.0 / math.sqrt(var + eps)) for i in idxs) + dvar * sum(
            -2.0 * (float(x[i]) - mu) for i in idxs
        ) / m
        for i in idxs:
            dx[i] = dxhat[i] / math.sqrt(var + eps) + dvar * 2.0 * (float(x[i]) - mu) / m + dmu / m
        dgamma[ch] = sum(float(dy[i]) * (float(x[i]) - mu) / math.sqrt(var + eps) for i in idxs)
        dbeta[ch] = sum(float(dy[i]) for i in idxs)
    return dx, np.array(dgamma), np.array(dbeta)


def batch_norm_inference_backward(dy, x, gamma, mean, var, eps: float, axis: int):
    """Statistics are constants: dx_i = gamma * dy_i / sqrt(var + eps); dgamma, dbeta as in training."""
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    c = x.shape[axis]
    g, mu, v = _vec(gamma, c), _vec(mean, c), _vec(var, c)
    dx = np.empty_like(x)
    dgamma, dbeta = [0.0] * c, [0.0] * c
    for ch, idxs in _channels(x.shape, axis).items():
        sigma = math.sqrt(v[ch] + eps)
        for i in idxs:
            dx[i] = g[ch] * float(dy[i]) / sigma
        dgamma[ch] = sum(float(dy[i]) * (float(x[i]) - mu[ch]) / sigma for i in idxs)
        dbeta[ch] = sum(float(dy[i]) for i in idxs)
    return dx, np.array(dgamma), np.array(dbeta)


# ----------------------------------------------------------------------------------------------------
# moving statistics


def moving_stats(batches, init_mean, init_var, *, momentum, convention: str, axis: int, tracked: int = 0):
    """The moving statistics after feeding ``batches`` one after the other.

    keras:  new = rho * old + (1 - rho) * stat,        stat var biased (divided by m)
    torch:  new = (1 - mom) * old + mom * stat,        stat var unbiased (divided by m - 1)
    torch, momentum None: the cumulative average of every batch statistic seen, counting the state we
    start from as the average of ``tracked`` earlier batches:
        (tracked * init + sum_k stat_k) / (tracked + K)
    Returns (mean, var) as lists.
    """
    c = np.asarray(batches[0]).shape[axis]
    mean, var = _vec(init_mean, c), _vec(init_var, c)
    stats = []
    for xb in batches:
        mus, vs, m = batch_moments(xb, axis)
        if convention == "torch":
            xb = np.asarray(xb, dtype=np.float64)
            vs = []
            for ch, idxs in sorted(_channels(xb.shape, axis).items()):
                vs.append(sum((float(xb[i]) - mus[ch]) ** 2 for i in idxs) / (m - 1))
        stats.append((mus, vs))
    if momentum is None:
        k = len(stats)
        total = tracked + k
        mean = [(tracked * mean[ch] + sum(s[0][ch] for s in stats)) / total for ch in range(c)]
        var = [(tracked * var[ch] + sum(s[1][ch] for s in stats)) / total for ch in range(c)]
        return mean, var
    for mus, vs in stats:
        for ch in range(c):
            if convention == "keras":
                mean[ch] = momentum * mean[ch] + (1 - momentum) * mus[ch]
                var[ch] = momentum * var[ch] + (1 - momentum) * vs[ch]
            else:
                mean[ch] = (1 - momentum) * mean[ch] + momentum * mus[ch]
                var[ch] = (1 - momentum) * var[ch] + momentum * vs[ch]
    return mean, var


# ----------------------------------------------------------------------------------------------------
# padding and windows (one spatial axis)


def same_pads(length: int, k: int, s: int, d: int) -> tuple[int, int]:
    """'same': out = ceil(L / s); total = max((out - 1) s + d (k - 1) + 1 - L, 0); odd pixel at the end."""
    out = math.ceil(length / s)
    total = max((out - 1) * s + d * (k - 1) + 1 - length, 0)
    lo = math.floor(total / 2)
    return lo, total - lo


def explicit_pads(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """An int, (ph, pw) or ((top, bottom), (left, right))."""
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    out = []
    for p in padding:
        out.append((p, p) if isinstance(p, int) else (p[0], p[1]))
    return out[0], out[1]


def axis_pads(padding, length: int, k: int, s: int, d: int, which: int) -> tuple[int, int]:
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return same_pads(length, k, s, d)
    return explicit_pads(padding)[which]


def window_starts(length: int, lo: int, hi: int, k: int, s: int, d: int, ceil_mode: bool) -> list[int]:
    """Start positions (in padded coordinates) of the windows along one axis.

    floor mode: every start j*s whose window (extent d(k-1)+1) fits in the padded length;
    ceil mode:  keep adding windows as long as the previous one stopped short of the end of the padded
                input (so the last may overhang it), then drop the last one if it starts in the end
                padding (PyTorch's rule; with padding <= window / 2, "windows that would start in the
                right padded region are ignored").
    """
    extent = d * (k - 1) + 1
    padded = lo + length + hi
    starts = []
    j = 0
    while True:
        start = j * s
        if start + extent <= padded or (ceil_mode and j > 0 and starts[-1] + extent < padded):
            starts.append(start)
        else:
            break
        j += 1
    if ceil_mode and len(starts) > 1 and starts[-1] >= lo + length:
        starts.pop()
    return starts


def _tap_kind(pos: int, lo: int, length: int, hi: int) -> str:
    if pos < lo:
        return "pad"
    if pos < lo + length:
        return "data"
    if pos < lo + length + hi:
        return "pad"
    return "overhang"


# ----------------------------------------------------------------------------------------------------
# convolution


def _get(x, n, c, h, w, data_format):
    return float(x[n, c, h, w]) if data_format == "channels_first" else float(x[n, h, w, c])


def _sizes(x, data_format):
    if data_format == "channels_first":
        n, c, h, w = x.shape
    else:
        n, h, w, c = x.shape
    return n, c, h, w


def _pair(v):
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def conv2d(x, w, b=None, *, stride=1, padding="valid", dilation=1, groups=1, data_format="channels_last",
           true_convolution: bool = False):
    """y[n,o,i,j] = b[o] + sum_{c,p,q} w[o,c,p,q] * x_pad[n, g*G + c, i*s + p*d, j*s + q*d]
    (cross-correlation, what frameworks call convolution), or, with ``true_convolution``, the
    mathematical convolution y[t] = sum_p w[p] x[t - p*d] with t the position of the window's last tap,
    which walks the input backwards as the kernel index grows. Zero padding.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n_b, c_in, h, wd = _sizes(x, data_format)
    c_out, g_size, kh, kw = w.shape
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    top, bottom = axis_pads(padding, h, kh, sh, dh, 0)
    left, right = axis_pads(padding, wd, kw, sw, dw, 1)
    rows = window_starts(h, top, bottom, kh, sh, dh, False)
    cols = window_starts(wd, left, right, kw, sw, dw, False)
    per_group_out = c_out // groups
    y = np.zeros((n_b, c_out, len(rows), len(cols)))
    for n in range(n_b):
        for o in range(c_out):
            g = o // per_group_out
            for i, r0 in enumerate(rows):
                for j, c0 in enumerate(cols):
                    acc = 0.0 if b is None else float(b[o])
                    for c in range(g_size):
                        for p in range(kh):
                            for q in range(kw):
                                if true_convolution:
                                    # last tap of the window, minus p (resp. q) dilated steps
                                    hp = r0 + (kh - 1) * dh - p * dh - top
                                    wp = c0 + (kw - 1) * dw - q * dw - left
                                else:
                                    hp = r0 + p * dh - top
                                    wp = c0 + q * dw - left
                                if 0 <= hp < h and 0 <= wp < wd:
                                    acc += float(w[o, c, p, q]) * _get(x, n, g * g_size + c, hp, wp, data_format)
                    y[n, o, i, j] = acc
    return y if data_format == "channels_first" else y.transpose(0, 2, 3, 1)


# ----------------------------------------------------------------------------------------------------
# pooling


class EmptyWindow(ValueError):
    """A window that sees no input value (only padding or overhang)."""


def pool2d(x, kind: str, window, stride=None, *, padding="valid", dilation=1, ceil_mode=False,
           count_include_pad=False, p=None, data_format="channels_last"):
    """Pooling from the definitions, per window W, D = its taps on input values:

    max: max over D and over the padding taps taken as -inf; any NaN in D gives NaN;
    avg: sum over D / |D|, or / (|D| + padding taps) with ``count_include_pad`` (overhang never counts);
    lp:  (sum over D of |x|^p)^(1/p).
    Raises ``EmptyWindow`` if some window has no data tap.
    """
    x = np.asarray(x, dtype=np.float64)
    n_b, c_n, h, wd = _sizes(x, data_format)
    kh, kw = _pair(window)
    sh, sw = (kh, kw) if stride is None else _pair(stride)
    dh, dw = _pair(dilation)
    top, bottom = axis_pads(padding, h, kh, sh, dh, 0)
    left, right = axis_pads(padding, wd, kw, sw, dw, 1)
    rows = window_starts(h, top, bottom, kh, sh, dh, ceil_mode)
    cols = window_starts(wd, left, right, kw, sw, dw, ceil_mode)
    y = np.zeros((n_b, c_n, len(rows), len(cols)))
    for n in range(n_b):
        for c in range(c_n):
            for i, r0 in enumerate(rows):
                for j, c0 in enumerate(cols):
                    data, n_pad = [], 0
                    for a in range(kh):
                        for bq in range(kw):
                            hp, wp = r0 + a * dh, c0 + bq * dw
                            kinds = (_tap_kind(hp, top, h, bottom), _tap_kind(wp, left, wd, right))
                            if kinds == ("data", "data"):
                                data.append(_get(x, n, c, hp - top, wp - left, data_format))
                            elif "overhang" not in kinds:
                                n_pad += 1
                    if not data:
                        raise EmptyWindow(f"window ({i}, {j}) covers no input value")
                    if kind == "max":
                        if any(math.isnan(v) for v in data):
                            y[n, c, i, j] = math.nan
                        else:
                            y[n, c, i, j] = max(data + [-math.inf] * n_pad)
                    elif kind == "avg":
                        count = len(data) + (n_pad if count_include_pad else 0)
                        y[n, c, i, j] = sum(data) / count
                    elif kind == "lp":
                        y[n, c, i, j] = sum(abs(v) ** p for v in data) ** (1.0 / p)
                    else:
                        raise ValueError(kind)
    return y if data_format == "channels_first" else y.transpose(0, 2, 3, 1)


def global_avg_pool2d(x, data_format="channels_last"):
    """Per sample and channel, (1 / (H W)) sum over all H * W positions."""
    x = np.asarray(x, dtype=np.float64)
    n_b, c_n, h, wd = _sizes(x, data_format)
    y = np.zeros((n_b, c_n))
    for n in range(n_b):
        for c in range(c_n):
            y[n, c] = sum(_get(x, n, c, i, j, data_format) for i in range(h) for j in range(wd)) / (h * wd)
    return y
