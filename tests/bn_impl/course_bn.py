"""The course's hand-written batch-norm layer as a Keras 3 layer, and a corrected copy, for
``--bn-impl keras:tests.bn_impl.course_bn:NAME`` (docs/blobs.md).

The course writes its own BatchNormalization for the shallow two-blob network (momentum 0.99,
epsilon 1e-5) and describes it so: the batch is normalized with its own mean and variance, and
the moving averages are updated on every call, "also during prediction, so that they follow the
test data". Written from that description, :class:`LectureBatchNormalization` has two properties a
drop-in for ``keras.layers.BatchNormalization`` must not have:

- called without ``training=`` (``training=None``, as a layer is outside ``fit``), it trains: it
  normalizes with the batch statistics and updates the moving statistics;
- called with ``training=False`` (inference) it normalizes with the moving statistics, and then
  updates them with the batch.

Its default epsilon is also the course's 1e-5, not Keras' 1e-3. :class:`CorrectedBatchNormalization`
fixes all three: ``training=None`` means inference, the moving statistics move only in training,
and the defaults are Keras'.
"""

from __future__ import annotations

import keras
from keras import ops


class LectureBatchNormalization(keras.layers.Layer):
    """y = gamma (x - mean) / sqrt(var + epsilon) + beta, as the lecture describes it."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = axis, momentum, epsilon

    def build(self, input_shape):
        shape = (input_shape[self.axis],)
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=shape, initializer="zeros", name="moving_mean",
                                           trainable=False)
        self.moving_variance = self.add_weight(shape=shape, initializer="ones", name="moving_variance",
                                               trainable=False)

    def _axes(self, x):
        ndim = len(x.shape)
        axis = self.axis % ndim
        shape = [1] * ndim
        shape[axis] = -1
        return [i for i in range(ndim) if i != axis], shape

    def _moments(self, x):
        reduce, shape = self._axes(x)
        mean = ops.mean(x, axis=reduce)
        var = ops.mean(ops.square(x - ops.reshape(mean, shape)), axis=reduce)
        return mean, var

    def _update(self, mean, var):
        m = self.momentum
        self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
        self.moving_variance.assign(m * self.moving_variance + (1.0 - m) * var)

    def _normalize(self, x, mean, var):
        _, shape = self._axes(x)

        def r(v):
            return ops.reshape(v, shape)

        return r(self.gamma) * (x - r(mean)) / ops.sqrt(r(var) + self.epsilon) + r(self.beta)

    def call(self, x, training=None):
        mean, var = self._moments(x)
        if training is False:
            y = self._normalize(x, self.moving_mean, self.moving_variance)
        else:  # training=True, and no flag at all
            y = self._normalize(x, mean, var)
        self._update(mean, var)  # every call: "the moving averages follow the test data"
        return y


class CorrectedBatchNormalization(LectureBatchNormalization):
    """The same layer as a drop-in for ``keras.layers.BatchNormalization``: no flag means
    inference, the moving statistics move only in training, Keras' default epsilon, and float16 and
    bfloat16 computed in float32 (Keras's layer does; the lecture's sums dgamma and dbeta in float16)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, **kwargs):
        super().__init__(axis=axis, momentum=momentum, epsilon=epsilon, **kwargs)

    def _normalize(self, x, mean, var):
        _, shape = self._axes(x)

        def r(v):
            return ops.reshape(ops.cast(v, x.dtype), shape)

        return r(self.gamma) * (x - r(mean)) / ops.sqrt(r(var) + self.epsilon) + r(self.beta)

    def _update(self, mean, var):
        m = self.momentum
        for variable, batch in ((self.moving_mean, mean), (self.moving_variance, var)):
            variable.assign(ops.cast(m * ops.cast(variable, batch.dtype) + (1.0 - m) * batch, variable.dtype))

    def call(self, x, training=None):
        out_dtype = x.dtype
        if keras.backend.standardize_dtype(out_dtype) in ("float16", "bfloat16"):
            x = ops.cast(x, "float32")
        if not (training and self.trainable):  # a frozen layer runs in inference mode (Keras's rule)
            y = self._normalize(x, self.moving_mean, self.moving_variance)
        else:
            mean, var = self._moments(x)
            self._update(mean, var)
            y = self._normalize(x, mean, var)
        return ops.cast(y, out_dtype)
