"""Batch normalization, forward (Ioffe and Szegedy 2015, Algorithm 1).

Training mode, for each feature over the ``m`` values of a mini-batch B (every axis but ``axis``):

    mu_B      = (1/m) sum_i x_i                        (mini-batch mean)
    sigma_B^2 = (1/m) sum_i (x_i - mu_B)^2             (biased mini-batch variance)
    x_hat_i   = (x_i - mu_B) / sqrt(sigma_B^2 + eps)   (normalize; eps inside the square root)
    y_i       = gamma * x_hat_i + beta                 (scale and shift)

Inference mode uses population estimates (the moving statistics) in place of mu_B, sigma_B^2:

    y = gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta

The variance is computed in two passes (mean first, then the mean of squared deviations), the
numerically stable form.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks


class BatchStats(NamedTuple):
    mean: np.ndarray  # mu_B, one value per feature
    var: np.ndarray  # sigma_B^2, biased (divided by m)
    count: int  # m, the number of values reduced per feature


class BatchNormOutput(NamedTuple):
    y: np.ndarray
    mean: np.ndarray  # the statistics used to normalize
    var: np.ndarray


def reduction_axes(ndim: int, axis: int) -> tuple[int, ...]:
    """Every axis but the feature axis."""
    return tuple(a for a in range(ndim) if a != axis)


def broadcast(v: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """A per-feature vector shaped to broadcast against an ``ndim``-D input along ``axis``."""
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def batch_stats(x, axis: int = -1) -> BatchStats:
    """Mini-batch mean and biased variance per feature (two-pass)."""
    x = _checks.as_float64("x", x)
    axis = _checks.feature_axis(axis, x.ndim)
    axes = reduction_axes(x.ndim, axis)
    m = x.size // x.shape[axis]
    if m == 0:
        raise ValueError(f"x: no values to normalize over (shape {x.shape})")
    mean = x.mean(axis=axes)
    var = np.square(x - broadcast(mean, x.ndim, axis)).mean(axis=axes)
    return BatchStats(mean, var, m)


def normalize(x, mean, var, gamma, beta, eps: float, axis: int) -> np.ndarray:
    """``gamma * (x - mean) / sqrt(var + eps) + beta``, per feature."""
    x = _checks.as_float64("x", x)
    axis = _checks.feature_axis(axis, x.ndim)
    c = x.shape[axis]
    eps = _checks.non_negative("eps", eps)
    mean, var, gamma, beta = (
        broadcast(_checks.per_feature(name, v, c), x.ndim, axis)
        for name, v in (("mean", mean), ("var", var), ("gamma", gamma), ("beta", beta))
    )
    if np.any(var < 0):
        raise ValueError("var: variances must be >= 0")
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def batch_norm_train(x, gamma=1.0, beta=0.0, *, eps: float = 1e-3, axis: int = -1) -> BatchNormOutput:
    """Training-mode batch normalization: normalize with the mini-batch statistics."""
    stats = batch_stats(x, axis)
    y = normalize(x, stats.mean, stats.var, gamma, beta, eps, axis)
    return BatchNormOutput(y, stats.mean, stats.var)


def batch_norm_inference(
    x, gamma, beta, moving_mean, moving_var, *, eps: float = 1e-3, axis: int = -1
) -> np.ndarray:
    """Inference-mode batch normalization: normalize with the moving (population) statistics."""
    x = _checks.as_float64("x", x)
    c = x.shape[_checks.feature_axis(axis, x.ndim)]
    moving_mean = _checks.per_feature("moving_mean", moving_mean, c)
    moving_var = _checks.per_feature("moving_var", moving_var, c)
    if np.any(moving_var < 0):
        raise ValueError("moving_var: variances must be >= 0")
    return normalize(x, moving_mean, moving_var, gamma, beta, eps, axis)
