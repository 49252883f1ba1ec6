"""Batch normalization under the layers' constructor options, for inputs of any rank.

For an input of any rank >= 2 with features on ``axis``, the statistics of each feature are taken over
the m values of every other axis: m = N for (N, C), N * L for sequences (N, C, L) or (N, T, C),
N * H * W for images and N * D * H * W for volumes (``batch_norm.batch_stats``).

The options, each as its framework documents it (off means the keyword below is False):

- ``scale`` (Keras ``scale``, Flax ``use_scale``, PyTorch ``affine``): off, there is no gamma, so
  ``y = x_hat + beta`` (gamma := 1) and no dgamma;
- ``center`` (Keras ``center``, Flax ``use_bias``, PyTorch ``affine``): off, there is no beta, so
  ``y = gamma * x_hat`` (beta := 0) and no dbeta; PyTorch's ``affine=False`` is both off, y = x_hat;
- ``track_running_stats`` (PyTorch): off, the layer keeps no running statistics and every call, in
  training or in evaluation mode, normalizes with the batch statistics mu_B, sigma_B^2 (and its
  gradient flows through them, as in training);
- ``trainable`` (Keras 3 and tf_keras): off, the layer is frozen and runs in inference mode even when
  called with ``training=True``: ``y = gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta``, the
  moving statistics are left as they are, and gamma and beta are constants (no gradients of them).
  Keras 3 ``BatchNormalization.call`` takes the batch statistics only ``if training and
  self.trainable``; tf_keras's ``_get_training_value`` sets ``training = False`` when ``not
  self.trainable``.

So a call normalizes with the batch statistics when ``(training and trainable) or not
track_running_stats`` and moves the moving statistics when ``training and trainable and
track_running_stats``.
"""

from __future__ import annotations

import numpy as np

from .batch_norm import BatchNormOutput, batch_stats, normalize
from .batch_norm_backward import BatchNormGrads, batch_norm_inference_backward, batch_norm_train_backward


def uses_batch_statistics(training: bool, *, track_running_stats: bool = True, trainable: bool = True) -> bool:
    """Whether a call normalizes with the batch statistics (else the moving ones)."""
    return bool((training and trainable) or not track_running_stats)


def updates_moving_statistics(training: bool, *, track_running_stats: bool = True, trainable: bool = True) -> bool:
    """Whether a call moves the moving statistics."""
    return bool(training and trainable and track_running_stats)


def affine(gamma, beta, *, scale: bool = True, center: bool = True) -> tuple:
    """The gamma and beta a layer applies, per feature (the shape of the given ones): ones without
    ``scale``, zeros without ``center``."""
    gamma, beta = np.asarray(gamma, np.float64), np.asarray(beta, np.float64)
    return (gamma if scale else np.ones_like(gamma)), (beta if center else np.zeros_like(beta))


def batch_norm(x, gamma, beta, moving_mean, moving_var, *, eps: float, axis: int, training: bool,
               scale: bool = True, center: bool = True, track_running_stats: bool = True,
               trainable: bool = True) -> BatchNormOutput:
    """y of one call under the options, and the statistics it is normalized with."""
    g, b = affine(gamma, beta, scale=scale, center=center)
    if uses_batch_statistics(training, track_running_stats=track_running_stats, trainable=trainable):
        stats = batch_stats(x, axis)
        mean, var = stats.mean, stats.var
    else:
        mean, var = np.asarray(moving_mean, np.float64), np.asarray(moving_var, np.float64)
    return BatchNormOutput(normalize(x, mean, var, g, b, eps, axis), mean, var)


def batch_norm_backward(dy, x, gamma, moving_mean, moving_var, *, eps: float, axis: int, training: bool,
                        scale: bool = True, center: bool = True, track_running_stats: bool = True,
                        trainable: bool = True) -> BatchNormGrads:
    """dx of ``sum(y * dy)`` under the options (through the batch statistics where the call uses them),
    and dgamma, dbeta where the parameter exists and is trainable, else None."""
    g, _ = affine(gamma, 0.0, scale=scale, center=center)
    if uses_batch_statistics(training, track_running_stats=track_running_stats, trainable=trainable):
        grads = batch_norm_train_backward(dy, x, g, eps=eps, axis=axis)
    else:
        grads = batch_norm_inference_backward(dy, x, g, moving_mean, moving_var, eps=eps, axis=axis)
    return BatchNormGrads(grads.dx, grads.dgamma if scale and trainable else None,
                          grads.dbeta if center and trainable else None)
