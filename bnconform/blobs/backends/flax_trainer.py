"""JAX trainer of the two-blob networks with Flax linen and optax.

The module (``nn.Dense(128, use_bias=False)``, ``nn.BatchNorm(momentum, epsilon,
use_fast_variance=False)``, ``nn.relu``), its variables, ``optax.adam`` and the train step are
:mod:`bnconform.training.flax_net`'s; the loss is ``optax.sigmoid_binary_cross_entropy``. The jitted
train step and forward pass are cached per network and hyper-parameters, so a second run of the
same network (another seed, the twin run of :mod:`bnconform.blobs.verdict`) compiles nothing; each
compiles once per batch shape (300 and 150).
"""

from __future__ import annotations

import functools

import numpy as np

from bnconform.training import flax_net
from bnconform.training.trainer import run_epoch

from .base import Trainer as TrainerBase


@functools.cache
def compiled(spec, momentum: float, epsilon: float, adam: tuple):
    """``(tx, train_step, forward)`` for this network and these hyper-parameters, jitted once."""
    import jax
    import optax

    module = flax_net.make_module(spec, momentum, epsilon, squeeze=True)
    tx = flax_net.adam(dict(adam))
    train_step = flax_net.train_step(module, tx, optax.sigmoid_binary_cross_entropy,
                                     lambda logits, y: ((logits > 0).astype(y.dtype) == y).sum())

    def forward(params, stats, x):
        return module.apply({"params": params, "batch_stats": stats}, x, train=False)

    return tx, jax.jit(train_step), jax.jit(forward)


class Trainer(flax_net.FlaxTrainer, TrainerBase):
    def __init__(self, spec, weights, *, momentum, epsilon, adam, threads, backend=None):
        self.spec, self.epsilon = spec, epsilon
        tx, self._train_step, self._forward = compiled(spec, momentum, epsilon, tuple(sorted(adam.items())))
        self._init_state(spec, weights, tx)

    def fit(self, x, y, orders, batch_size, on_epoch=None):
        labels = y.astype(np.float32)

        def step(idx):
            self.params, self.stats, self.opt_state, loss, ok = self._train_step(
                self.params, self.stats, self.opt_state, x[idx], labels[idx], {})
            return float(loss), int(ok)

        for epoch, order in enumerate(orders):
            fit = run_epoch(order, batch_size, step)
            if on_epoch is not None:
                on_epoch(epoch, fit)

    def logits(self, x):
        return np.asarray(self._forward(self.params, self.stats, x))

    def moving_statistics(self):
        return [(np.asarray(self.stats[name]["mean"]).copy(), np.asarray(self.stats[name]["var"]).copy())
                for name in sorted(self.stats, key=lambda n: int(n.rsplit("_", 1)[1]))]

    def recalibrate(self, x):
        module = flax_net.make_module(self.spec, 0.0, self.epsilon, squeeze=True)
        _, updates = module.apply({"params": self.params, "batch_stats": self.stats}, x, train=True,
                                  mutable=["batch_stats"])
        self.stats = updates["batch_stats"]
