"""Batch norm for ``--bn-impl keras:...`` on the surface issue 22 added: every rank (2 to 5), the options
``center`` and ``scale``, and a frozen layer (``trainable = False``). One honest layer, computed another
way than Keras's, and one planted bug per new surface, each a drop-in for
``keras.layers.BatchNormalization``.

:class:`SurfaceBatchNormalization` (honest) moves ``axis`` last, views the input as (N, S, C), S the
product of the other axes, and takes each statistic as a mean of per-sample means (the batch mean,
since every sample holds S values):

    mean = (1/N) sum_n [(1/S) sum_s x[n, s, c]],   var = (1/N) sum_n [(1/S) sum_s (x[n, s, c] - mean)^2]

computed in float32 for float16 and bfloat16 (as Keras's layer upcasts them) and in the dtype
otherwise; y = x_hat * gamma + beta, without gamma for ``scale=False`` and without beta for
``center=False`` (neither weight is created); Keras's convention for the moving statistics (momentum
weighs the old, biased variance). A frozen layer (``trainable`` False) runs in inference mode even
under ``training=True``, the rule of Keras 3 (``if training and self.trainable``) and tf_keras.

Planted, each changing one thing on one part of the surface:

- :class:`FrozenStillTrains`: ignores ``trainable``: a frozen layer normalizes with the batch
  statistics under ``training=True`` and moves its moving statistics (the fine-tuning bug);
- :class:`SequenceStatsPerTimestep`: a (N, T, C) input is normalized per (T, C) over N only;
- :class:`ScaleFalseStillScales`: ``scale=False`` still creates gamma, from a uniform initializer, and
  applies it.
"""

from __future__ import annotations

import keras
from keras import ops

HALF = ("float16", "bfloat16")


class SurfaceBatchNormalization(keras.layers.Layer):
    """Honest (see the module's docstring)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def build(self, input_shape):
        c = (input_shape[self.axis],)
        self.gamma = self._gamma(c) if self.scale else None
        self.beta = self.add_weight(shape=c, initializer="zeros", name="beta", autocast=False) if self.center else None
        self.moving_mean = self.add_weight(shape=c, initializer="zeros", name="moving_mean", trainable=False,
                                           autocast=False)
        self.moving_variance = self.add_weight(shape=c, initializer="ones", name="moving_variance", trainable=False,
                                               autocast=False)

    def _gamma(self, c):
        return self.add_weight(shape=c, initializer="ones", name="gamma", autocast=False)

    def _applies(self, name: str) -> bool:
        return getattr(self, name) is not None

    def _batch(self, training) -> bool:
        return bool(training) and self.trainable

    def _stats(self, x3):
        """(N, S, C) -> mean and biased variance per channel, as means of per-sample means."""
        mean = ops.mean(ops.mean(x3, axis=1), axis=0)
        var = ops.mean(ops.mean(ops.square(x3 - mean), axis=1), axis=0)
        return mean, var

    def _update(self, mean, var) -> None:
        m = self.momentum
        for variable, batch in ((self.moving_mean, mean), (self.moving_variance, var)):
            variable.assign(ops.cast(m * ops.cast(variable, batch.dtype) + (1.0 - m) * batch, variable.dtype))

    def call(self, x, training=False):
        out_dtype = keras.backend.standardize_dtype(x.dtype)
        ct = "float32" if out_dtype in HALF else out_dtype
        axis = self.axis % len(x.shape)
        moved = ops.moveaxis(ops.cast(x, ct), axis, -1)
        x3 = ops.reshape(moved, (moved.shape[0], -1, moved.shape[-1]))
        if self._batch(training):
            mean, var = self._stats(x3)
            self._update(ops.stop_gradient(mean), ops.stop_gradient(var))
        else:
            mean, var = ops.cast(self.moving_mean, ct), ops.cast(self.moving_variance, ct)
        y = (x3 - mean) / ops.sqrt(var + self.epsilon)
        if self._applies("gamma"):
            y = y * ops.cast(self.gamma, ct)
        if self._applies("beta"):
            y = y + ops.cast(self.beta, ct)
        return ops.cast(ops.moveaxis(ops.reshape(y, moved.shape), -1, axis), out_dtype)


HONEST = ("SurfaceBatchNormalization",)


# -- planted bugs -----------------------------------------------------------------------------------


class FrozenStillTrains(SurfaceBatchNormalization):
    """Bug: ``trainable = False`` is ignored; ``training=True`` normalizes with the batch statistics and
    moves the moving statistics of a frozen layer."""

    def _batch(self, training):
        return bool(training)


class SequenceStatsPerTimestep(SurfaceBatchNormalization):
    """Bug: a (N, T, C) input (features last) is normalized per (T, C) over N only."""

    def _stats(self, x3):
        if self._rank != 3:
            return super()._stats(x3)
        mean = ops.mean(x3, axis=0)  # (S, C)
        var = ops.mean(ops.square(x3 - mean), axis=0)
        return mean, var

    def _update(self, mean, var):
        if len(mean.shape) == 2:  # what the moving statistics see: the per-channel average
            mean, var = ops.mean(mean, axis=0), ops.mean(var, axis=0)
        super()._update(mean, var)

    def call(self, x, training=False):
        self._rank = len(x.shape)
        return super().call(x, training=training)


class ScaleFalseStillScales(SurfaceBatchNormalization):
    """Bug: ``scale=False`` still creates gamma, uniform on [0, 1) (a seeded initializer), and applies it."""

    def build(self, input_shape):
        scale, self.scale = self.scale, True
        super().build(input_shape)
        self.scale = scale
        if not scale:
            self.gamma.assign(keras.random.uniform(self.gamma.shape, seed=22))

    def _applies(self, name):
        return True if name == "gamma" else super()._applies(name)


PLANTED = ("FrozenStillTrains", "SequenceStatsPerTimestep", "ScaleFalseStillScales")
