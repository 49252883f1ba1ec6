"""Batch normalization, backward pass in closed form (Ioffe and Szegedy 2015, Section 3).

Given the upstream gradient dy = dL/dy, with sigma = sqrt(var + eps), x_hat = (x - mean) / sigma, and
sums and means taken per feature over the m values of the mini-batch:

    dbeta  = sum_i dy_i
    dgamma = sum_i dy_i * x_hat_i

Training mode (mean and var are the mini-batch statistics, functions of x):

    dx_i = (gamma / sigma) * (dy_i - mean(dy) - x_hat_i * mean(dy * x_hat))

which is the paper's chain rule through d sigma_B^2 and d mu_B collected into one line; it holds
with eps inside the square root. Inference mode (mean and var are constants, the moving statistics):

    dx_i = (gamma / sigma) * dy_i
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks
from .batch_norm import batch_stats, broadcast, reduction_axes


class BatchNormGrads(NamedTuple):
    dx: np.ndarray
    dgamma: np.ndarray
    dbeta: np.ndarray


def _prepare(dy, x, axis):
    x = _checks.as_float64("x", x)
    dy = _checks.as_float64("dy", dy)
    if dy.shape != x.shape:
        raise ValueError(f"dy: expected the shape of x {x.shape}, got {dy.shape}")
    axis = _checks.feature_axis(axis, x.ndim)
    return dy, x, axis


def _param_grads(dy, x_hat, axes) -> tuple[np.ndarray, np.ndarray]:
    return (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)


def batch_norm_train_backward(dy, x, gamma=1.0, *, eps: float = 1e-3, axis: int = -1) -> BatchNormGrads:
    """Gradients of training-mode batch normalization (statistics depend on x)."""
    dy, x, axis = _prepare(dy, x, axis)
    eps = _checks.non_negative("eps", eps)
    c = x.shape[axis]
    gamma = broadcast(_checks.per_feature("gamma", gamma, c), x.ndim, axis)
    stats = batch_stats(x, axis)
    axes = reduction_axes(x.ndim, axis)
    inv_sigma = broadcast(1.0 / np.sqrt(stats.var + eps), x.ndim, axis)
    x_hat = (x - broadcast(stats.mean, x.ndim, axis)) * inv_sigma
    mean_dy = dy.mean(axis=axes, keepdims=True)
    mean_dy_xhat = (dy * x_hat).mean(axis=axes, keepdims=True)
    dx = gamma * inv_sigma * (dy - mean_dy - x_hat * mean_dy_xhat)
    dgamma, dbeta = _param_grads(dy, x_hat, axes)
    return BatchNormGrads(dx, dgamma, dbeta)


def batch_norm_inference_backward(
    dy, x, gamma, moving_mean, moving_var, *, eps: float = 1e-3, axis: int = -1
) -> BatchNormGrads:
    """Gradients of inference-mode batch normalization (statistics are constants)."""
    dy, x, axis = _prepare(dy, x, axis)
    eps = _checks.non_negative("eps", eps)
    c = x.shape[axis]
    gamma, mean, var = (
        broadcast(_checks.per_feature(name, v, c), x.ndim, axis)
        for name, v in (("gamma", gamma), ("moving_mean", moving_mean), ("moving_var", moving_var))
    )
    if np.any(var < 0):
        raise ValueError("moving_var: variances must be >= 0")
    inv_sigma = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_sigma
    dgamma, dbeta = _param_grads(dy, x_hat, reduction_axes(x.ndim, axis))
    return BatchNormGrads(gamma * inv_sigma * dy, dgamma, dbeta)
