"""Batch normalization with a mask (Keras's ``BatchNormalization.call(x, training, mask)``).

A mask ``w`` holds one 0/1 weight per position of x without its feature axis, and broadcasts along
the axes where its size is 1 (Keras 3.15.1 expands it by one axis for the features, then
``broadcast_to`` x's shape). Training statistics are the frequency-weighted mean and biased variance
over the unmasked positions only (Keras's docstring: "masked elements of the current inputs are not
taken into account for mean and variance computation during training"; the weighted moments of
``tf.nn.weighted_moments`` with ``frequency_weights``):

    W       = sum_i w_i                                  (the count, w broadcast to x's shape)
    mu_B    = sum_i w_i x_i / W
    sigma^2 = sum_i w_i (x_i - mu_B)^2 / W

i.e. the ordinary mini-batch statistics (``batch_norm.batch_stats``) of the W unmasked values per
feature, which is how they are computed here (:func:`unmasked_values`). y is computed at every
position, masked or not, with those statistics (``batch_norm.normalize``); the moving statistics are
updated from them (``moving_stats.update_moving_stats`` of the unmasked values). In inference the
mask changes nothing. keras-team/keras#19848 (3.0.2 to 3.8.0) divided by the count of the mask
*before* broadcasting, which is W only for a mask of x's full shape without the feature axis.
"""

from __future__ import annotations

import numpy as np

from . import _checks


def broadcast_mask(mask, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """The boolean mask broadcast to x's ``shape``: a feature axis inserted at ``axis``, then the
    sizes of 1 repeated. A mask that does not broadcast is a ``ValueError`` naming both shapes."""
    mask = np.asarray(mask)
    axis = _checks.feature_axis(axis, len(shape))
    if mask.ndim != len(shape) - 1:
        raise ValueError(f"mask: expected {len(shape) - 1} dimensions for x of shape {shape}, got shape {mask.shape}")
    try:
        return np.broadcast_to(np.expand_dims(mask.astype(bool), axis), shape)
    except ValueError:
        raise ValueError(f"mask: shape {mask.shape} does not broadcast against x's shape {shape} "
                         f"without its feature axis {axis}") from None


def unmasked_values(x, mask, axis: int) -> np.ndarray:
    """The W unmasked values of each feature, as an array of x's rank with the feature axis kept
    (W along the first other axis, 1 along the rest): its ``batch_stats`` are the masked statistics
    of the module docstring, its ``update_moving_stats`` the masked update. Every position masked is a
    ``ValueError`` (no statistics exist)."""
    x = _checks.as_float64("x", x)
    axis = _checks.feature_axis(axis, x.ndim)
    full = broadcast_mask(mask, x.shape, axis)
    rows = np.moveaxis(x, axis, -1)[np.moveaxis(full, axis, -1)[..., 0]]  # (W, C)
    if rows.shape[0] == 0:
        raise ValueError("mask: every position is masked; the masked statistics do not exist")
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    shape[1 if axis == 0 else 0] = rows.shape[0]
    return np.moveaxis(rows, -1, axis).reshape(shape) if axis != x.ndim - 1 else rows.reshape(shape)
