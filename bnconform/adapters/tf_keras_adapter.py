"""Legacy Keras 2 (``tf_keras``, on TensorFlow): ``tf_keras.layers.BatchNormalization``, ``Conv2D``,
``MaxPooling2D``, ``AveragePooling2D``, ``GlobalAveragePooling2D``, run eagerly.

Conventions (tf_keras documentation and ``tf_keras/src/layers/normalization/batch_normalization.py``):
momentum 0.99 weighs the *old* value, ``moving = momentum * moving + (1 - momentum) * batch``; eps 1e-3;
feature axis -1; a call without ``training`` runs in inference mode. The layer keeps float32 parameters
and statistics when its dtype is float16 or bfloat16 (``_param_dtype``).

Fused and non-fused batch norm. With ``fused=None`` (the default) the layer takes TensorFlow's fused
kernel (``tf.compat.v1.nn.fused_batch_norm``) when the input is 4-D (or 5-D), the feature axis is 1 or 3
(``-1``), the compute dtype is float16, bfloat16 or float32, and there is no renorm, virtual batch size
or adjustment (``_fused_can_be_used`` and ``build``); otherwise it computes with ``tf.nn.moments``. The
two paths agree on the output but not on the moving variance: the fused kernel feeds the Bessel-corrected
batch variance (divide by m - 1) into the moving average, the non-fused path the biased one (divide by
m). This adapter tests the default layer, as users get it (so a typical Conv2D + BatchNormalization
stack takes the fused path), declares the documented biased convention, and the fused path's moving
variance is recorded as a known deviation. ``TfKerasAdapter(fused=False)`` builds non-fused layers (not a
registered target; the plumbing tests use it to show the two paths side by side).

What TensorFlow's CPU kernels refuse, found by running a tiny layer once per dtype and reported by
``unsupported`` with TensorFlow's message: channels_first (NCHW) Conv2D, MaxPooling2D and
AveragePooling2D in float16 and float64 (oneDNN's float32 and bfloat16 kernels take NCHW; the Eigen
kernels for the other dtypes take NHWC only, and tf_keras, unlike Keras 3 for pooling, does not
transpose). Conv2D refuses ``strides > 1`` together with ``dilation_rate > 1``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras

from .keras_adapter import CAPABILITIES as KERAS3_CAPABILITIES
from .keras_adapter import CONVENTIONS as KERAS3_CONVENTIONS
from .keras_backends import runner
from .keras_layers import CHANNELS_FIRST_PROBES, KerasLayersAdapter, exact_dtype

# Keras 3's conventions (the same momentum meaning, defaults and flagless call), with tf_keras's notes
CONVENTIONS = dataclasses.replace(
    KERAS3_CONVENTIONS,
    notes="moving = momentum * moving + (1 - momentum) * batch (tf_keras BatchNormalization docstring); "
    "biased batch variance on the non-fused path, but the default layer takes the fused kernel for 4-D "
    "inputs with axis 1 or 3 in float16/bfloat16/float32, whose moving variance is Bessel-corrected "
    "(m / (m - 1)); a call without training= is inference; float16/bfloat16 layers keep float32 statistics",
)

# The same layers and arguments as Keras 3 (Conv2D refuses stride > 1 with dilation > 1 here too), with
# synchronized=True (any backend is TF). The default layer takes the fused kernel for 5-D inputs with axis
# 1 or 4 as for 4-D ones with axis 1 or 3 (BatchNormalization.build), so the fused entries cover both.
CAPABILITIES = dataclasses.replace(KERAS3_CAPABILITIES, bn_synchronized=True)

class TfKerasAdapter(KerasLayersAdapter):
    """tf_keras layers, eagerly; ``fused`` is passed to BatchNormalization (None: the default layer)."""

    def __init__(self, *, fused: bool | None = None):
        super().__init__(
            name="tf_keras" if fused is None else f"tf_keras-fused-{fused}",
            framework="tf_keras",
            version=tf_keras.__version__,
            conventions=CONVENTIONS,
            capabilities=CAPABILITIES,
            backend="tensorflow",
            description="tf_keras.layers.BatchNormalization (default fused=None), Conv2D, MaxPooling2D, "
            "AveragePooling2D, GlobalAveragePooling2D",
            extra={"backend_version": tf.__version__, "fused": fused},
        )
        self.fused = fused
        self._setup(runner("tensorflow"))

    def keras(self):
        return tf_keras

    def _bn_layer(self, keras, axis: int, dtype: str, **options):
        kwargs = {} if self.fused is None else {"fused": self.fused}
        return keras.layers.BatchNormalization(axis=axis, dtype=dtype, **options, **kwargs)

    def _tensor(self, keras, a, dtype: str):
        exact = exact_dtype(dtype)
        t = tf.constant(np.asarray(a, exact))
        return t if dtype == exact else tf.cast(t, dtype)

    def _mask_tensor(self, keras, mask):
        return tf.constant(np.asarray(mask, bool))

    def _numpy(self, keras, t) -> np.ndarray:
        t = tf.convert_to_tensor(t)
        return tf.cast(t, tf.float64).numpy()

    def _dtype_of(self, keras, variable) -> str:
        return variable.dtype.name

    def _channels_first_probes(self) -> dict:
        return CHANNELS_FIRST_PROBES  # tf_keras does not transpose channels_first pooling either

    def describe(self) -> dict:
        return {**super().describe(), "backend_version": tf.__version__}


def load() -> TfKerasAdapter:
    return TfKerasAdapter()
