"""Masked batch norm for ``--bn-impl keras:...`` (the ``bn_masked`` property, issue 22): Keras's own
``BatchNormalization`` with its masked moments computed one honest other way, and with the count of
keras-team/keras#19848 (Keras 3.0.2 to 3.8.0, fixed in 3.9.0).

Both override ``BatchNormalization._moments(inputs, mask)`` (Keras 3.15.1; the layer's ``call`` hands
it the mask, with its rank checked: x's rank - 1) and leave the rest of the layer as it is.

- :class:`WeightedMoments` (honest): the frequency-weighted moments with the mask broadcast to x's
  shape first, mean = sum(w x) / sum(w), var = sum(w (x - mean)^2) / sum(w), divided by the count
  itself (Keras 3.15.1 divides by count + 1e-7: a known deviation of its own in float64);
- :class:`MaskCountBeforeBroadcast` (planted, #19848): the mask expanded by one axis but counted
  *before* it is broadcast to x's shape, ``sum(expand_dims(mask, -1))`` over the reduction axes, as
  Keras 3.8.0's ``_moments`` does: right for a mask of x's full shape without the feature axis, wrong
  by the product of the broadcast sizes for a mask with sizes of 1 ((N, 1) for (N, T, C), (1,) for
  (N, C)).
"""

from __future__ import annotations

import keras
from keras import ops


class WeightedMoments(keras.layers.BatchNormalization):
    """Honest: the weighted moments over the broadcast mask, divided by the count."""

    def _moments(self, inputs, mask):
        if mask is None:
            return super()._moments(inputs, mask)
        w = ops.broadcast_to(ops.cast(ops.expand_dims(mask, axis=-1), inputs.dtype), ops.shape(inputs))
        count = ops.sum(w, self._reduction_axes, keepdims=True)
        mean = ops.sum(w * inputs, self._reduction_axes, keepdims=True) / count
        var = ops.sum(w * ops.square(inputs - mean), self._reduction_axes, keepdims=True) / count
        return ops.reshape(mean, (-1,)), ops.reshape(var, (-1,))


class MaskCountBeforeBroadcast(keras.layers.BatchNormalization):
    """Planted (keras-team/keras#19848, Keras 3.0.2 to 3.8.0): the count taken from the mask before
    it is broadcast to x's shape."""

    def _moments(self, inputs, mask):
        if mask is None:
            return super()._moments(inputs, mask)
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), axis=-1)
        weighted = weights * inputs
        count = ops.sum(weights, self._reduction_axes, keepdims=True)  # not broadcast: the bug
        mean = ops.sum(weighted, self._reduction_axes, keepdims=True) / (count + keras.backend.epsilon())
        var = ops.sum(weights * ops.square(weighted - mean), self._reduction_axes, keepdims=True) / (
            count + keras.backend.epsilon())
        return ops.reshape(mean, (-1,)), ops.reshape(var, (-1,))


HONEST = ("WeightedMoments",)
PLANTED = ("MaskCountBeforeBroadcast",)
