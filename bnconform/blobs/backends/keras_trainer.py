"""Keras 3 trainer of the two-blob networks (backend fixed by ``KERAS_BACKEND`` before import).

The ``keras.Sequential`` (:mod:`bnconform.training.keras_net`) of ``Dense(128, use_bias=False)``,
``BatchNormalization`` and ``ReLU`` (without BN: ``Dense(128, use_bias=False, activation="relu")``),
compiled with Adam and ``BinaryCrossentropy(from_logits=True)``, trained by **one** ``fit`` call
over all epochs: a generator yields the batches in the shared order, ``steps_per_epoch`` = 3, and
a callback hands each epoch's ``loss`` and ``accuracy`` (Keras' own epoch averages) to the loop.
One ``fit`` per epoch, as the CIFAR-10 trainer does, costs ~70 ms of set-up per call on the
TensorFlow backend, more than a whole epoch of this network; the generator keeps the same batches
in the same order. Inference is ``predict_on_batch``.

Compiled models are cached per network and hyper-parameters (:func:`compiled_model`): a new
trainer of the same network (another seed, the twin run of :mod:`bnconform.blobs.verdict`) takes the cached
model, sets its weights and restores its optimizer's variables (step count, Adam's moments) to
their values before the first step, so that Keras' compiled train step is reused (the JAX backend
otherwise compiles it anew for every model: 2 s of a 2.1 s shallow run). A reused model trains bit
for bit like a fresh one: the twin run, always a reused model, must reproduce its main run's
losses exactly, and the determinism test compares runs in fresh processes. A trainer owns the
model until the next trainer of the same network is created.
"""

from __future__ import annotations

import numpy as np

from bnconform.training import keras_net
from bnconform.training.trainer import batches

from ..models import INPUT_SHAPE
from .base import Trainer as TrainerBase

_MODELS: dict = {}


def compiled_model(spec, momentum: float, epsilon: float, adam: dict):
    """``(model, optimizer variables before the first step)`` for this network, compiled once."""
    import keras

    key = (spec, momentum, epsilon, tuple(sorted(adam.items())))
    if key not in _MODELS:
        model = keras_net.build_model(spec, momentum, epsilon, INPUT_SHAPE)
        keras_net.compile_adam(model, adam, keras.losses.BinaryCrossentropy(from_logits=True),
                               keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy"))
        model.optimizer.build(model.trainable_variables)
        store: dict = {}
        model.optimizer.save_own_variables(store)
        _MODELS[key] = (model, {k: np.array(v) for k, v in store.items()})
    return _MODELS[key]


class Trainer(keras_net.KerasTrainer, TrainerBase):
    def __init__(self, spec, weights, *, momentum, epsilon, adam, threads, backend):
        self._check_backend(backend, threads)
        self.model, initial_optimizer = compiled_model(spec, momentum, epsilon, adam)
        keras_net.set_weights(self.model, weights)
        self.model.optimizer.load_own_variables(initial_optimizer)

    def fit(self, x, y, orders, batch_size, on_epoch=None):
        import keras

        labels = y.astype(np.float32)[:, None]

        def generate():
            for order in orders:
                for start, stop in batches(len(order), batch_size):
                    idx = order[start:stop]
                    yield x[idx], labels[idx]

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if on_epoch is not None:
                    on_epoch(epoch, {"loss": float(logs["loss"]), "accuracy": float(logs["accuracy"])})

        steps = len(list(batches(len(orders[0]), batch_size)))
        self.model.fit(generate(), epochs=len(orders), steps_per_epoch=steps, verbose=0,
                       shuffle=False,  # the generator yields the shared order
                       callbacks=[Report()])

    def logits(self, x):
        return np.asarray(self.model.predict_on_batch(x))[:, 0]

    def _bns(self):
        import keras

        return [layer for layer in self.model.layers
                if isinstance(layer, keras.layers.BatchNormalization)]

    def moving_statistics(self):
        import keras

        return [(keras.ops.convert_to_numpy(layer.moving_mean).copy(),
                 keras.ops.convert_to_numpy(layer.moving_variance).copy()) for layer in self._bns()]

    def recalibrate(self, x):
        """An eager training-mode call with momentum 0 (the layer reads ``momentum`` when called)."""
        saved = [layer.momentum for layer in self._bns()]
        for layer in self._bns():
            layer.momentum = 0.0
        self.model(x, training=True)
        for layer, momentum in zip(self._bns(), saved):
            layer.momentum = momentum
