"""A hand-written copy of ``keras.layers.BatchNormalization`` (from its documentation, not its
source), and copies with one planted bug each, for ``--bn-impl keras:...``."""

from __future__ import annotations

import keras
from keras import ops


class HandBatchNormalization(keras.layers.Layer):
    """y = gamma * (x - mean) / sqrt(var + epsilon) + beta along ``axis``.

    Training normalizes with the batch mean and biased variance and updates
    moving = momentum * moving + (1 - momentum) * batch; inference uses the moving statistics.
    float16 and bfloat16 inputs are normalized in float32 and the output cast back, as the Keras
    documentation says its layer does (computing in half precision reduces the gradients in it).
    """

    invert_momentum = False
    unbiased_moving_var = False
    eps_outside_sqrt = False
    update_in_inference = False

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = axis, momentum, epsilon

    def build(self, input_shape):
        c = (input_shape[self.axis],)
        self.gamma = self.add_weight(shape=c, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=c, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=c, initializer="zeros", name="moving_mean", trainable=False)
        self.moving_variance = self.add_weight(shape=c, initializer="ones", name="moving_variance", trainable=False)

    def call(self, x, training=False):
        training = training and self.trainable  # a frozen layer runs in inference mode (Keras's rule)
        out_dtype = x.dtype
        compute = "float32" if keras.backend.standardize_dtype(out_dtype) in ("float16", "bfloat16") else out_dtype
        x = ops.cast(x, compute)
        gamma, beta, moving_mean, moving_variance = (
            ops.cast(v, compute) for v in (self.gamma, self.beta, self.moving_mean, self.moving_variance)
        )
        ndim = len(x.shape)
        axis = self.axis % ndim
        reduce = [i for i in range(ndim) if i != axis]
        shape = [1] * ndim
        shape[axis] = -1
        batch_mean = ops.mean(x, axis=reduce)
        batch_var = ops.mean(ops.square(x - ops.reshape(batch_mean, shape)), axis=reduce)
        mean, var = (batch_mean, batch_var) if training else (moving_mean, moving_variance)
        sigma = ops.sqrt(var) + self.epsilon if self.eps_outside_sqrt else ops.sqrt(var + self.epsilon)
        r = lambda v: ops.reshape(v, shape)  # noqa: E731
        y = r(gamma) * (x - r(mean)) / r(sigma) + r(beta)
        if training or self.update_in_inference:
            self._update(batch_mean, batch_var, x.shape, axis, moving_mean, moving_variance)
        return ops.cast(y, out_dtype)

    def _update(self, mean, var, shape, axis, moving_mean, moving_variance):
        m = 1
        for i, s in enumerate(shape):
            m *= s if i != axis else 1
        if self.unbiased_moving_var:
            var = var * (m / max(m - 1, 1))
        keep = 1.0 - self.momentum if self.invert_momentum else self.momentum
        self.moving_mean.assign(ops.cast(keep * moving_mean + (1.0 - keep) * mean, self.moving_mean.dtype))
        self.moving_variance.assign(ops.cast(keep * moving_variance + (1.0 - keep) * var, self.moving_variance.dtype))


class InvertedMomentum(HandBatchNormalization):
    """Bug: momentum weighs the new batch (the PyTorch meaning) under Keras's convention."""

    invert_momentum = True


class UnbiasedMovingVar(HandBatchNormalization):
    """Bug: the moving variance is updated with the unbiased batch variance."""

    unbiased_moving_var = True


class EpsOutsideSqrt(HandBatchNormalization):
    """Bug: (x - mean) / (sqrt(var) + epsilon)."""

    eps_outside_sqrt = True


class UpdatesInInference(HandBatchNormalization):
    """Bug: the moving statistics also move in inference mode."""

    update_in_inference = True


class TrainsWithoutFlag(HandBatchNormalization):
    """Bug (the lecture's claim that prediction updates the statistics): ``call(x, training=True)``,
    so a call without a training flag normalizes with the batch statistics and moves the moving
    ones, where Keras's layer treats it as inference."""

    def call(self, x, training=True):
        return super().call(x, training=training)
