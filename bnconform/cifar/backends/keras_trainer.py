"""Keras 3 trainer of the course CNNs (backend fixed by ``KERAS_BACKEND`` before import: tensorflow, jax or torch).

The model is the ``keras.Sequential`` of the course layers (:mod:`bnconform.training.keras_net`), NHWC,
trained with ``fit`` one epoch at a time on the images already put in the shared order
(``shuffle=False``), exactly as the course trains it, and evaluated with ``predict_on_batch`` in
inference mode.

Device: every call into Keras (building, ``fit``, ``predict_on_batch``) runs inside
``placement.enter()`` (``keras.device``: on torch the device ``convert_to_tensor`` and new variables
use, on jax ``jax.default_device``, on tensorflow ``tf.device``), so the weights, the optimizer's
slots and every batch are on that device (:mod:`bnconform.cifar.device`). On a tensorflow accelerator the
model compiles without XLA (``jit_compile=False``): under op determinism XLA refuses the max-pool
gradient (select-and-scatter), while TensorFlow's own cuDNN kernel for it is deterministic.
"""

from __future__ import annotations

import numpy as np

from bnconform.training import keras_net

from .. import settings
from ..archs import INPUT_SHAPE
from ..device import CPU_PLACEMENT
from ..order import framework_seed
from .base import Trainer as TrainerBase
from .base import evaluate_logits


class Trainer(keras_net.KerasTrainer, TrainerBase):
    def __init__(self, spec, weights, *, seed, broken_bn, threads, backend, placement=None):
        self.placement = placement or CPU_PLACEMENT
        with self.placement.enter():
            self._build(spec, weights, seed, broken_bn, threads, backend)

    def _build(self, spec, weights, seed, broken_bn, threads, backend):
        import keras

        self._check_backend(backend, threads)
        fseed = framework_seed(seed)
        keras.utils.set_random_seed(fseed)
        self.model = keras_net.build_model(spec, settings.bn_momentum(broken_bn), settings.BN_EPSILON,
                                           INPUT_SHAPE, fseed)
        keras_net.set_weights(self.model, weights)
        keras_net.compile_adam(
            self.model, settings.ADAM, keras.losses.CategoricalCrossentropy(from_logits=True),
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            **({"jit_compile": False} if backend == "tensorflow" and self.placement.platform != "cpu" else {}))

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
