"""Keras 3 on the tensorflow, jax and torch backends: ``keras.layers.BatchNormalization``,
``Conv2D``, ``MaxPooling2D``, ``AveragePooling2D``, ``GlobalAveragePooling2D``.

Conventions (Keras 3 documentation and source, ``keras/src/layers/normalization/batch_normalization.py``):
momentum 0.99 weighs the *old* value, ``moving = momentum * moving + (1 - momentum) * batch``; the
moving variance takes the biased batch variance (``ops.moments``, divide by m); eps 1e-3; the feature
axis is -1; a call without ``training`` runs in inference mode. Layers upcast float16/bfloat16 inputs
to float32 for the statistics and the normalization and cast the output back; a layer built with
``dtype="float16"`` keeps float16 variables.

Keras fixes its backend when it is imported. All three targets run in one process here: every op
first makes sure Keras runs on this adapter's backend, switching with ``keras.config.set_backend``
(which deletes every ``keras`` module and imports them afresh) if another Keras target ran since, and
reaches Keras only through ``sys.modules["keras"]`` afterwards, never through a reference kept from
before a switch. Layers are cached per configuration (shape, dtype and what the layer is built with)
and dropped when Keras is re-imported; how a layer is run and differentiated on each backend is in
``bnconform.adapters.keras_backends``.

What the backends can do on CPU, and how this adapter expresses it:

- Conv2D refuses ``strides > 1`` together with ``dilation_rate > 1`` on every backend (a check in
  ``keras/src/layers/convolutional/base_conv.py``): ``conv_dilated_strided=False``.
- Keras has no explicit padding pairs, no Lp pooling, no ceil mode and no "count the padding" option
  (average pooling over "same" padding divides by the values in the window, as TensorFlow does).
- tensorflow backend: TensorFlow's CPU Conv2D kernels for float16 and float64 accept only NHWC, and
  Keras passes channels_first through (it transposes for pooling, not for convolution); those cases
  are refused by ``unsupported`` with TensorFlow's message, found by running a tiny layer once.
- tensorflow backend: Conv2D adds its bias with ``ops.add(outputs, ops.reshape(bias, (1, C, 1, 1)))``
  for channels_first, and Keras's TensorFlow ``add`` (``keras/src/backend/tensorflow/numpy.py``, since
  keras#20386) turns an add whose second operand squeezes to a vector into ``tf.nn.bias_add``, taking
  ``NHWC`` whenever the first operand's last axis has that length: when the output width equals the
  number of filters the bias lands along the width, ``y[n, c, h, w] = conv[n, c, h, w] + b[w]``. The
  adapter calls the layer as users do; the failure is Keras's, and shows only where TensorFlow accepts
  NCHW Conv2D at all (oneDNN: float32 and bfloat16 here) and only on such shapes, which the strategies
  draw on purpose (``bnconform.shapes``).
- jax backend: JAX computes in 32 bits unless ``jax_enable_x64`` is set, and Keras does not set it (a
  float64 layer would silently compute in float32). float64 cases run inside ``jax.enable_x64(True)``
  (``jax.experimental.enable_x64`` in older jax: ``bnconform.adapters.jax_common.enable_x64``),
  as a user asking for float64 must do; the flag is restored after each call. (Layers still compute
  in float32: Keras's type promotion maps float64 to float32 on every backend but tensorflow; a known
  deviation.)

What differs from the reference is recorded in ``known_deviations.toml`` with its cause: TensorFlow's
CPU pooling kernels (NaN in max pooling, float16 average pooling summed in float16), float64 computed in
float32 on the jax and torch backends, the torch backend's one-pass batch variance and its
edge-replicating "same" average pooling, and the jax backend's float16 window sums.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import sys
import warnings

import ml_dtypes
import numpy as np

from .base import Capabilities, Conventions
from .keras_backends import runner
from .keras_layers import CHANNELS_FIRST_PROBES, KerasLayersAdapter, exact_dtype, keras_numpy

BACKENDS = ("tensorflow", "jax", "torch")
DTYPES = ("float16", "bfloat16", "float32", "float64")

CONVENTIONS = Conventions(
    momentum="keras",
    running_var="biased",
    default_eps=1e-3,
    default_momentum=0.99,
    default_axis=-1,
    momentum_none=False,
    call_without_flag="inference",
    notes="moving = momentum * moving + (1 - momentum) * batch with the biased batch variance "
    "(keras.layers.BatchNormalization docstring and call()); a call without training= is inference; "
    "float16/bfloat16 inputs are normalized in float32",
)

CAPABILITIES = Capabilities(
    ops=("batch_norm", "conv2d", "pool2d"),
    dtypes=DTYPES,
    bn_modes=("train", "inference"),
    bn_backward=True,
    bn_ranks=(2, 3, 4, 5),
    bn_any_axis=True,
    bn_flags=("scale", "center", "trainable"),
    conv_data_formats=("channels_last", "channels_first"),
    conv_paddings=("valid", "same"),  # no explicit pairs
    conv_same_strided=True,  # but not dilation with stride (base_conv.py refuses it)
    conv_groups=True,
    conv_dilation=True,
    conv_bias=True,
    pool_kinds=("max", "avg", "global_avg"),
    pool_data_formats=("channels_last", "channels_first"),
    pool_paddings=("valid", "same"),
    bn_masks=True,  # call(x, training, mask): a mask of x's shape without the last axis, broadcast
)


# --------------------------------------------------------------------------------------------
# Backend switching
# --------------------------------------------------------------------------------------------


def active_keras(backend: str):
    """The ``keras`` module, running on ``backend`` (importing or re-importing Keras if needed).

    Always returns the module now in ``sys.modules``; callers must not keep it across calls, since
    another Keras target may switch the backend (and so replace every Keras module) in between.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    keras = sys.modules.get("keras")
    if keras is None:
        os.environ["KERAS_BACKEND"] = backend  # read once, when Keras is first imported
        keras = importlib.import_module("keras")
    if keras.backend.backend() != backend:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*set_backend.*dangerous", category=UserWarning)
            keras.config.set_backend(backend)
        keras = sys.modules["keras"]
    if keras.backend.backend() != backend:
        raise RuntimeError(f"Keras runs on {keras.backend.backend()!r} after switching to {backend!r}")
    return keras


def device_initializer(name: str):
    """Keras's "zeros" or "ones" initializer for the JAX backend: the array made by NumPy and put on the
    device, which Keras takes as it is (``convert_to_tensor`` of a JAX array of the right dtype). Keras's
    own initializers, and ``jnp.asarray`` of a NumPy array, compile a small program for every new shape."""
    fill = {"zeros": 0.0, "ones": 1.0}[name]

    def initializer(shape, dtype=None):
        import jax

        dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype or "float32")
        return jax.device_put(np.full(tuple(shape), fill, dtype))

    return initializer


class KerasAdapter(KerasLayersAdapter):
    """Keras 3 layers on one backend (``keras-<backend>``)."""

    def __init__(self, backend: str):
        keras = active_keras(backend)
        super().__init__(
            name=f"keras-{backend}",
            framework="keras",
            version=keras.__version__,
            conventions=CONVENTIONS,
            # synchronized=True: "only supported with the TensorFlow backend" (BatchNormalization raises otherwise)
            capabilities=dataclasses.replace(CAPABILITIES, bn_synchronized=backend == "tensorflow"),
            backend=backend,
            description="keras.layers.BatchNormalization, Conv2D, MaxPooling2D, AveragePooling2D, "
            "GlobalAveragePooling2D",
            extra={"backend_version": getattr(sys.modules.get(backend), "__version__", None)},
        )
        self._setup(runner(backend))

    def keras(self):
        """Keras on this adapter's backend (switching if another Keras target ran since)."""
        return active_keras(self.backend)

    def _scope(self, dtype: str):
        if self.backend == "jax" and dtype == "float64":
            from .jax_common import enable_x64

            return enable_x64(True)
        return contextlib.nullcontext()

    def _initializers(self, **initializers):
        if self.backend != "jax":
            return initializers
        # the same values without a compilation per new weight shape (tens of ms per layer built)
        return {name: device_initializer(value) for name, value in initializers.items()}

    def _tensor(self, keras, a, dtype: str):
        if self.backend == "jax":  # jitted calls take NumPy arrays and transfer them in one go
            return np.asarray(a, ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
        exact = exact_dtype(dtype)  # without dtype=, Keras turns float64 NumPy arrays into floatx
        t = keras.ops.convert_to_tensor(np.asarray(a, exact), dtype=exact)
        return t if dtype == exact else keras.ops.cast(t, dtype)

    def _mask_tensor(self, keras, mask):
        if self.backend == "jax":  # as _tensor: a NumPy array, transferred with the jitted call
            return np.asarray(mask, bool)
        return keras.ops.convert_to_tensor(np.asarray(mask, bool))

    def _numpy(self, keras, t) -> np.ndarray:
        if self.backend == "jax":  # a JAX array: NumPy reads it directly (and waits for it)
            return np.asarray(t).astype(np.float64)
        return keras_numpy(keras, t)

    def _dtype_of(self, keras, variable) -> str:
        return keras.backend.standardize_dtype(variable.dtype)

    def _channels_first_probes(self) -> dict:
        if self.backend != "tensorflow":
            return {}
        key = ("conv2d", None)  # Keras 3 transposes channels_first pooling itself
        return {key: CHANNELS_FIRST_PROBES[key]}

    def describe(self) -> dict:
        return {**super().describe(), "backend_version": self.extra.get("backend_version")}


def load_tensorflow() -> KerasAdapter:
    return KerasAdapter("tensorflow")


def load_jax() -> KerasAdapter:
    return KerasAdapter("jax")


def load_torch() -> KerasAdapter:
    return KerasAdapter("torch")
