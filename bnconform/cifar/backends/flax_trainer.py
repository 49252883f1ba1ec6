"""JAX trainer of the course CNNs with Flax linen and optax: NHWC like Keras, so the weights go in unchanged.

The module, its variables, Adam and the train step are :mod:`bnconform.training.flax_net`'s; BN
momentum 0.99 and epsilon 1e-3 (:mod:`bnconform.cifar.settings`). The train step is one ``jax.jit``
function (a smaller last batch compiles once more); dropout keys are ``fold_in(key(seed), step)``.

Device: parameters, batch statistics and optimizer state are made inside ``placement.enter()``
(``jax.default_device``), and every step and forward pass runs inside it, so the NumPy batches are
put on that device and the jitted functions run there (:mod:`bnconform.cifar.device`).
"""

from __future__ import annotations

import numpy as np

from bnconform.training import flax_net
from bnconform.training.trainer import run_epoch

from .. import settings
from ..device import CPU_PLACEMENT
from ..order import framework_seed
from .base import Trainer as TrainerBase
from .base import evaluate_logits


class Trainer(flax_net.FlaxTrainer, TrainerBase):
    def __init__(self, spec, weights, *, seed, broken_bn, threads, backend=None, placement=None):
        self.placement = placement or CPU_PLACEMENT
        with self.placement.enter():
            self._build(spec, weights, seed, broken_bn)

    def _build(self, spec, weights, seed, broken_bn):
        import jax
        import optax

        self.module = module = flax_net.make_module(spec, settings.bn_momentum(broken_bn), settings.BN_EPSILON)
        self._init_state(spec, weights, flax_net.adam(settings.ADAM))
        self.key = jax.random.key(framework_seed(seed))
        self.step = 0
        train_step = flax_net.train_step(module, self.tx, optax.softmax_cross_entropy_with_integer_labels,
                                         lambda logits, y: (logits.argmax(axis=1) == y).sum())

        def forward(params, stats, x, train):
            if train:  # batch statistics; the updated moving statistics are discarded
                return module.apply({"params": params, "batch_stats": stats}, x, train=True,
                                    rngs={"dropout": jax.random.key(0)},
                                    mutable=["batch_stats"])[0]
            return module.apply({"params": params, "batch_stats": stats}, x, train=False)

        self._train_step = jax.jit(train_step, donate_argnums=(0, 1, 2))
        self._forward = jax.jit(forward, static_argnums=3)

    def train_epoch(self, x, y, order, batch_size, on_batch=None):
        import jax

        def step(idx):
            key = jax.random.fold_in(self.key, self.step)
            self.params, self.stats, self.opt_state, loss, ok = self._train_step(
                self.params, self.stats, self.opt_state, x[idx], y[idx].astype(np.int32), {"dropout": key})
            self.step += 1
            return float(loss), int(ok)

        with self.placement.enter():
            return run_epoch(order, batch_size, step, on_batch)

    def logits(self, x, training=False):
        with self.placement.enter():
            return np.asarray(self._forward(self.params, self.stats, x, training))

    def evaluate(self, x, y):
        return evaluate_logits(self.logits, x, y)
