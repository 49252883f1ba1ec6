"""Keras 3 trainer (backend fixed by ``KERAS_BACKEND`` before import: tensorflow, jax or torch).

The model is a ``keras.Sequential`` of the course layers, NHWC, trained with ``fit`` one epoch at a
time on the images already put in the shared order (``shuffle=False``), exactly as the course trains
it, and evaluated with ``predict_on_batch`` in inference mode.

Device: every call into Keras (building, ``fit``, ``predict_on_batch``) runs inside
``placement.enter()`` (``keras.device``: on torch the device ``convert_to_tensor`` and new variables
use, on jax ``jax.default_device``, on tensorflow ``tf.device``), so the weights, the optimizer's
slots and every batch are on that device (:mod:`bnconform.cifar.device`). On a tensorflow accelerator the
model compiles without XLA (``jit_compile=False``): under op determinism XLA refuses the max-pool
gradient (select-and-scatter), while TensorFlow's own cuDNN kernel for it is deterministic.
"""

from __future__ import annotations

import numpy as np

from .. import settings
from ..device import CPU_PLACEMENT
from ..order import framework_seed
from .base import Trainer as TrainerBase
from .base import evaluate_logits


def _determinism(backend: str, threads: int) -> None:
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialized in this process: keep what is set
            pass
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(threads)


def build_model(spec, momentum: float, seed: int):
    """The Sequential model of ``spec`` (dropout seeds derived from ``seed``)."""
    import keras

    layers = [keras.Input((32, 32, 3))]
    for i, layer in enumerate(spec):
        if layer.kind == "bn":
            layers.append(keras.layers.BatchNormalization(
                momentum=momentum, epsilon=settings.BN_EPSILON))
        elif layer.kind == "conv":
            layers.append(keras.layers.Conv2D(
                layer.units, 3, padding=layer.padding, activation="relu" if layer.relu else None))
        elif layer.kind == "pool":
            layers.append(keras.layers.MaxPooling2D(2))
        elif layer.kind == "flatten":
            layers.append(keras.layers.Flatten())
        elif layer.kind == "dropout":
            layers.append(keras.layers.Dropout(layer.rate, seed=seed + i))
        elif layer.kind == "dense":
            layers.append(keras.layers.Dense(layer.units, activation="relu" if layer.relu else None))
    return keras.Sequential(layers)


def set_weights(model, weights) -> None:
    params = iter(weights)
    for layer in model.layers:
        if not layer.weights:
            continue
        p = next(params)
        if "gamma" in p:
            layer.set_weights([p["gamma"], p["beta"], p["mean"], p["var"]])
        else:
            layer.set_weights([p["kernel"]] + ([p["bias"]] if "bias" in p else []))  # blobs: layers without bias


class Trainer(TrainerBase):
    framework = "keras"

    def __init__(self, spec, weights, *, seed, broken_bn, threads, backend, placement=None):
        self.placement = placement or CPU_PLACEMENT
        with self.placement.enter():
            self._build(spec, weights, seed, broken_bn, threads, backend)

    def _build(self, spec, weights, seed, broken_bn, threads, backend):
        import keras

        if keras.backend.backend() != backend:
            raise RuntimeError(
                f"Keras runs on {keras.backend.backend()!r} in this process, not {backend!r}: "
                "set KERAS_BACKEND before importing keras (bnconform.cifar.runner does)")
        self.backend = backend
        _determinism(backend, threads)
        fseed = framework_seed(seed)
        keras.utils.set_random_seed(fseed)
        self.model = build_model(spec, settings.bn_momentum(broken_bn), fseed)
        set_weights(self.model, weights)
        adam = settings.ADAM
        self.model.compile(
            optimizer=keras.optimizers.Adam(
                learning_rate=adam["learning_rate"], beta_1=adam["beta1"], beta_2=adam["beta2"],
                epsilon=adam["epsilon"]),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
            **({"jit_compile": False} if backend == "tensorflow" and self.placement.platform != "cpu" else {}),
        )

    def train_epoch(self, x, y, order, batch_size, on_batch=None):
        import keras

        callbacks = []
        if on_batch is not None:
            sizes = [min(batch_size, len(order) - s) for s in range(0, len(order), batch_size)]

            class Progress(keras.callbacks.Callback):
                def on_train_batch_end(self, batch, logs=None):
                    on_batch(sizes[batch], float((logs or {}).get("loss", float("nan"))))

            callbacks.append(Progress())
        onehot = np.eye(10, dtype=np.float32)[y[order]]
        with self.placement.enter():
            history = self.model.fit(x[order], onehot, batch_size=batch_size, epochs=1, shuffle=False,
                                     verbose=0, callbacks=callbacks)
        return {"loss": float(history.history["loss"][-1]),
                "accuracy": float(history.history["accuracy"][-1])}

    def logits(self, x, training=False):
        import keras

        with self.placement.enter():
            if training:
                return keras.ops.convert_to_numpy(self.model(x, training=True))
            return np.asarray(self.model.predict_on_batch(x))

    def evaluate(self, x, y):
        return evaluate_logits(self.logits, x, y)

    def versions(self):
        import keras

        from .versions import package_versions

        deps = {"tensorflow": ["tensorflow"], "jax": ["jax", "jaxlib"], "torch": ["torch"]}
        return {"keras": keras.__version__, **package_versions(deps[self.backend])}
