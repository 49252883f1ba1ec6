"""Batch normalization in NumPy, in a test dtype, computed several honest ways and with planted bugs.

Every operation is rounded to its dtype (NumPy rounds each float16/float32 operation; bfloat16 comes
from ``ml_dtypes``). Reductions accumulate in ``acc`` (float32 for half-precision inputs, like every
framework here) by one of several orders: ``pairwise`` (NumPy's sum), ``sequential`` (a running sum),
``blocked`` (sequential blocks of 256, then their sum), ``float64`` (exact-ish, then rounded). The
variance is two-pass, Welford's running update, or per-block statistics merged by Chan, Golub and
LeVeque's formula. The affine step is (x - mean) / sigma * gamma + beta or the folded x * scale + shift.

Planted bugs (each a parameter): ``eps`` other than the layer's, ``unbiased_norm`` (normalize with the
variance divided by m - 1), ``tf32`` (inputs rounded to TF32's 10-bit significand), ``half_acc``
(statistics accumulated in the half dtype), ``chan_no_between`` (blocks merged without their
between-block term), ``backward_m1`` (mean(dy x_hat) divided by m - 1), and for the moving
statistics ``momentum_scale`` (1 - momentum off by a factor), ``biased_running`` (the biased
variance where the unbiased one is expected), ``running_f16`` (the running statistics rounded
through float16).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from bnconform import dtypes

BLOCK = 256


@dataclass(frozen=True)
class Impl:
    sum: str = "pairwise"  # pairwise, sequential, blocked, float64
    variance: str = "two-pass"  # two-pass, welford, chan
    folded: bool = False
    eps: float | None = None  # None: the layer's
    unbiased_norm: bool = False
    tf32: bool = False
    half_acc: bool = False
    chan_no_between: bool = False
    backward_m1: bool = False
    momentum_scale: float = 1.0
    biased_running: bool = False
    running_f16: bool = False

    def without_bugs(self) -> "Impl":
        """The same computation with every planted bug (``BUG_FIELDS``) at its honest default."""
        return dataclasses.replace(self, **{f: getattr(Impl, f) for f in BUG_FIELDS})


#: The fields of ``Impl`` that plant a bug (the others choose an honest way of computing).
BUG_FIELDS = ("eps", "unbiased_norm", "tf32", "half_acc", "chan_no_between", "backward_m1", "momentum_scale",
              "biased_running", "running_f16")


def round_tf32(a):
    """Round to nearest with a 10-bit stored significand (TF32), kept in float32."""
    a = np.asarray(a, np.float32)
    bits = a.view(np.uint32).astype(np.uint64)
    bits = ((bits + 0xFFF + ((bits >> 13) & 1)) & ~np.uint64(0x1FFF)).astype(np.uint32)
    return bits.view(np.float32)


def _total(a, how: str, t):
    """Sum over axis 0 in dtype t, in the given order."""
    a = np.asarray(a).astype(t)
    if how == "pairwise":
        if t == np.float32 or t == np.float64:
            # NumPy sums pairwise only along a contiguous axis (over axis 0 it adds row by row)
            return np.ascontiguousarray(np.moveaxis(a, 0, -1)).sum(axis=-1, dtype=t)
        how = "sequential"  # NumPy would accumulate a half sum in float32
    if how == "sequential":
        acc = np.zeros(a.shape[1:], t)
        for row in a:
            acc = (acc + row).astype(t)
        return acc
    if how == "blocked":
        parts = [_total(a[i:i + BLOCK], "sequential", t) for i in range(0, a.shape[0], BLOCK)]
        return _total(np.stack(parts), "sequential", t)
    if how == "float64":
        return a.astype(np.float64).sum(axis=0).astype(t)
    raise ValueError(how)


def _stats(x2d, impl: Impl, acc):
    """Mean and biased variance per column of x2d (m, C), in acc."""
    m = x2d.shape[0]
    how = impl.sum
    if impl.variance == "welford":
        mean = np.zeros(x2d.shape[1], acc)
        m2 = np.zeros(x2d.shape[1], acc)
        for k, row in enumerate(x2d.astype(acc), start=1):
            delta = (row - mean).astype(acc)
            mean = (mean + (delta / acc(k)).astype(acc)).astype(acc)
            m2 = (m2 + (delta * (row - mean).astype(acc)).astype(acc)).astype(acc)
        return mean, (m2 / acc(m)).astype(acc)
    if impl.variance == "chan":
        n_tot, mean, m2 = 0, None, None
        for i in range(0, m, BLOCK):
            blk = x2d[i:i + BLOCK].astype(acc)
            nb = blk.shape[0]
            mb = (_total(blk, how, acc) / acc(nb)).astype(acc)
            m2b = _total(((blk - mb) * (blk - mb)).astype(acc), how, acc)
            if mean is None:
                n_tot, mean, m2 = nb, mb, m2b
                continue
            n = n_tot + nb
            delta = (mb - mean).astype(acc)
            between = (delta * delta * acc(n_tot * nb / n)).astype(acc)
            m2 = (m2 + m2b + (0 if impl.chan_no_between else between)).astype(acc)
            mean = (mean + delta * acc(nb / n)).astype(acc)
            n_tot = n
        return mean, (m2 / acc(m)).astype(acc)
    xa = x2d.astype(acc)
    mean = (_total(xa, how, acc) / acc(m)).astype(acc)
    d = (xa - mean).astype(acc)
    return mean, (_total((d * d).astype(acc), how, acc) / acc(m)).astype(acc)


def _types(dtype: str, impl: Impl):
    t = dtypes.numpy_dtype(dtype).type
    acc = t if (impl.half_acc or dtype not in dtypes.HALF) else np.float32
    return t, acc


def _as2d(x, axis: int):
    xm = np.moveaxis(x, axis, -1)
    return xm.reshape(-1, xm.shape[-1]), xm.shape


def forward_train(x, gamma, beta, eps: float, axis: int, dtype: str, impl: Impl):
    """(y, mean, biased var) of a training forward pass; y as float64."""
    t, acc = _types(dtype, impl)
    x2d, shape = _as2d(np.asarray(x, np.float64), axis)
    x2d = x2d.astype(t)
    if impl.tf32:
        x2d = round_tf32(x2d.astype(np.float32)).astype(t)
    m = x2d.shape[0]
    mean, var = _stats(x2d, impl, acc)
    var_n = (var * acc(m / (m - 1))).astype(acc) if impl.unbiased_norm else var
    e = acc(eps if impl.eps is None else impl.eps)
    inv = (acc(1) / np.sqrt((var_n + e).astype(acc))).astype(acc)
    g, b = np.asarray(gamma).astype(acc), np.asarray(beta).astype(acc)
    xa = x2d.astype(acc)
    if impl.folded:
        scale = (g * inv).astype(acc)
        shift = (b - (mean * scale).astype(acc)).astype(acc)
        y = ((xa * scale).astype(acc) + shift).astype(acc)
    else:
        y = (((((xa - mean).astype(acc)) * inv).astype(acc) * g).astype(acc) + b).astype(acc)
    y = y.astype(t).astype(np.float64).reshape(shape)
    return np.moveaxis(y, -1, axis), mean.astype(np.float64), var.astype(np.float64)


def backward_train(dy, x, gamma, eps: float, axis: int, dtype: str, impl: Impl):
    """(dx, dgamma, dbeta) of sum(y dy) for the training forward pass."""
    t, acc = _types(dtype, impl)
    x2d, shape = _as2d(np.asarray(x, np.float64), axis)
    dy2d, _ = _as2d(np.asarray(dy, np.float64), axis)
    x2d, dy2d = x2d.astype(t).astype(acc), dy2d.astype(t).astype(acc)
    m = x2d.shape[0]
    mean, var = _stats(x2d, impl, acc)
    inv = (acc(1) / np.sqrt((var + acc(eps)).astype(acc))).astype(acc)
    x_hat = ((x2d - mean).astype(acc) * inv).astype(acc)
    dbeta = _total(dy2d, impl.sum, acc)
    dgamma = _total((dy2d * x_hat).astype(acc), impl.sum, acc)
    a = (dbeta / acc(m)).astype(acc)
    b = (dgamma / acc(m - 1 if impl.backward_m1 else m)).astype(acc)
    s = (np.asarray(gamma).astype(acc) * inv).astype(acc)
    dx = (s * ((dy2d - a).astype(acc) - (x_hat * b).astype(acc)).astype(acc)).astype(acc)
    dx = np.moveaxis(dx.astype(t).astype(np.float64).reshape(shape), -1, axis)
    return dx, dgamma.astype(t).astype(np.float64), dbeta.astype(t).astype(np.float64)


def moving_stats(xs, init_mean, init_var, momentum: float, axis: int, dtype: str, impl: Impl, *, convention: str):
    """Moving mean and variance after one update per batch (``convention`` "keras": new = momentum old
    + (1 - momentum) stat, biased variance; "torch": new = (1 - momentum) old + momentum stat, unbiased)."""
    t, acc = _types(dtype, impl)
    mean_r = np.asarray(init_mean).astype(t).astype(acc)
    var_r = np.asarray(init_var).astype(t).astype(acc)
    w_new = (1.0 - momentum) if convention == "keras" else momentum
    w_new *= impl.momentum_scale
    for x in xs:
        x2d, _ = _as2d(np.asarray(x, np.float64), axis)
        m = x2d.shape[0]
        mean, var = _stats(x2d.astype(t), impl, acc)
        if convention == "torch" and not impl.biased_running:
            var = (var * acc(m / (m - 1))).astype(acc)
        mean_r = (mean_r * acc(1 - w_new) + (mean * acc(w_new)).astype(acc)).astype(acc)
        var_r = (var_r * acc(1 - w_new) + (var * acc(w_new)).astype(acc)).astype(acc)
        if impl.running_f16:
            mean_r, var_r = mean_r.astype(np.float16).astype(acc), var_r.astype(np.float16).astype(acc)
        mean_r, var_r = mean_r.astype(t).astype(acc), var_r.astype(t).astype(acc)
    return mean_r.astype(np.float64), var_r.astype(np.float64)
