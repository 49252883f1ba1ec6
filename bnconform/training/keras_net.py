"""Keras 3: the ``keras.Sequential`` of a layer spec, its weights, Adam, and the backend's determinism.

Keras fixes its backend at import (``KERAS_BACKEND``, set by
:func:`bnconform.training.targets.prepare_environment`); a trainer checks it got the one asked for
(:meth:`KerasTrainer._check_backend`). The canonical weights are Keras' own layout (NHWC, ``(in,
out)`` dense kernels). BN momentum and epsilon as given (the Keras convention).
"""

from __future__ import annotations

from .trainer import Trainer
from .versions import package_versions


def determinism(backend: str, threads: int) -> None:
    """Deterministic kernels and ``threads`` intra-op threads on ``backend`` (jax needs no flag:
    its threads are fixed by ``XLA_FLAGS``)."""
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


def build_model(spec, momentum: float, epsilon: float, input_shape, seed: int = 0):
    """The Sequential model of ``spec`` for inputs of ``input_shape``: a conv or dense layer's relu
    is its activation, a BN layer's a ``ReLU`` layer after it; dropout seeds ``seed + index``."""
    import keras

    layers = [keras.Input(input_shape)]
    for i, layer in enumerate(spec):
        activation = "relu" if layer.relu else None
        if layer.kind == "bn":
            layers.append(keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon))
            if layer.relu:
                layers.append(keras.layers.ReLU())
        elif layer.kind == "conv":
            layers.append(keras.layers.Conv2D(layer.units, 3, padding=layer.padding, activation=activation,
                                              use_bias=layer.bias))
        elif layer.kind == "pool":
            layers.append(keras.layers.MaxPooling2D(2))
        elif layer.kind == "flatten":
            layers.append(keras.layers.Flatten())
        elif layer.kind == "dropout":
            layers.append(keras.layers.Dropout(layer.rate, seed=seed + i))
        elif layer.kind == "dense":
            layers.append(keras.layers.Dense(layer.units, activation=activation, use_bias=layer.bias))
    return keras.Sequential(layers)


def set_weights(model, weights) -> None:
    """Copy canonical ``weights`` (one dict per BN, conv or dense layer) into ``model``."""
    params = iter(weights)
    for layer in model.layers:
        if not layer.weights:
            continue
        p = next(params)
        if "gamma" in p:
            layer.set_weights([p["gamma"], p["beta"], p["mean"], p["var"]])
        else:
            layer.set_weights([p["kernel"]] + ([p["bias"]] if "bias" in p else []))


def compile_adam(model, adam: dict, loss, accuracy, **options) -> None:
    """Compile ``model`` with Keras' Adam of ``{"learning_rate", "beta1", "beta2", "epsilon"}``,
    ``loss`` and the metric ``accuracy``; ``options`` go to ``compile``."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=adam["learning_rate"], beta_1=adam["beta1"],
                                        beta_2=adam["beta2"], epsilon=adam["epsilon"]),
        loss=loss, metrics=[accuracy], **options)


class KerasTrainer(Trainer):
    """The Keras family: ``self.model`` (a compiled Sequential) and ``self.backend``."""

    framework = "keras"

    def _check_backend(self, backend: str, threads: int) -> None:
        """Refuse a process whose Keras runs on another backend; set the backend's determinism."""
        import keras

        if keras.backend.backend() != backend:
            raise RuntimeError(
                f"Keras runs on {keras.backend.backend()!r} in this process, not {backend!r}: "
                "set KERAS_BACKEND before importing keras (bnconform.app.runner does)")
        self.backend = backend
        determinism(backend, threads)

    def versions(self) -> dict:
        import keras

        deps = {"tensorflow": ["tensorflow"], "jax": ["jax", "jaxlib"], "torch": ["torch"]}
        return {"keras": keras.__version__, **package_versions(deps[self.backend])}
