"""JAX trainer of the two-blob networks with Flax linen and optax.

``nn.Dense(128, use_bias=False)``, ``nn.BatchNorm(momentum, epsilon, use_fast_variance=False)``
(Keras' momentum convention, the two-pass variance), ``nn.relu``; ``optax.adam`` and
``optax.sigmoid_binary_cross_entropy``. The jitted train step and forward pass are cached per
network and hyper-parameters, so a second run of the same network (another seed, the twin run of
:mod:`bnconform.blobs.checks`) compiles nothing; each compiles once per batch shape (300 and 150).
"""

from __future__ import annotations

import functools

import numpy as np

from bnconform.cifar.backends.flax_trainer import variables_from

from .base import Trainer as TrainerBase
from .base import batches


def make_module(spec, momentum: float, epsilon: float):
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            for layer in spec:
                if layer.kind == "dense":
                    x = nn.Dense(layer.units, use_bias=layer.bias)(x)
                elif layer.kind == "bn":
                    x = nn.BatchNorm(use_running_average=not train, momentum=momentum,
                                     epsilon=epsilon, use_fast_variance=False)(x)
                if layer.relu:
                    x = nn.relu(x)
            return x[:, 0]

    return Net()


def compiled(spec, momentum: float, epsilon: float, adam: tuple):
    """``(tx, train_step, forward)`` for this network and these hyper-parameters, jitted once."""
    import jax
    import optax

    module = make_module(spec, momentum, epsilon)
    a = dict(adam)
    tx = optax.adam(a["learning_rate"], b1=a["beta1"], b2=a["beta2"], eps=a["epsilon"])

    def loss_fn(params, stats, x, y):
        logits, updates = module.apply({"params": params, "batch_stats": stats}, x, train=True,
                                       mutable=["batch_stats"])
        return optax.sigmoid_binary_cross_entropy(logits, y).mean(), (logits, updates["batch_stats"])

    def train_step(params, stats, opt_state, x, y):
        (loss, (logits, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        correct = ((logits > 0).astype(y.dtype) == y).sum()
        return optax.apply_updates(params, updates), stats, opt_state, loss, correct

    def forward(params, stats, x):
        return module.apply({"params": params, "batch_stats": stats}, x, train=False)

    return tx, jax.jit(train_step), jax.jit(forward)


class Trainer(TrainerBase):
    framework = "flax"
    backend = None

    def __init__(self, spec, weights, *, momentum, epsilon, adam, threads, backend=None):
        self.spec, self.epsilon = spec, epsilon
        self.tx, self._train_step, self._forward = compiled(spec, momentum, epsilon,
                                                            tuple(sorted(adam.items())))
        variables = variables_from(spec, weights)
        self.params, self.stats = variables["params"], variables["batch_stats"]
        self.opt_state = self.tx.init(self.params)

    def fit(self, x, y, orders, batch_size, on_epoch=None):
        labels = y.astype(np.float32)
        for epoch, order in enumerate(orders):
            loss_sum, correct = 0.0, 0
            for start, stop in batches(len(order), batch_size):
                idx = order[start:stop]
                self.params, self.stats, self.opt_state, loss, ok = self._train_step(
                    self.params, self.stats, self.opt_state, x[idx], labels[idx])
                loss_sum += float(loss) * len(idx)
                correct += int(ok)
            if on_epoch is not None:
                on_epoch(epoch, {"loss": loss_sum / len(order), "accuracy": correct / len(order)})

    def logits(self, x):
        return np.asarray(self._forward(self.params, self.stats, x))

    def moving_statistics(self):
        return [(np.asarray(self.stats[name]["mean"]).copy(), np.asarray(self.stats[name]["var"]).copy())
                for name in sorted(self.stats, key=lambda n: int(n.rsplit("_", 1)[1]))]

    def recalibrate(self, x):
        module = make_module(self.spec, 0.0, self.epsilon)
        _, updates = module.apply({"params": self.params, "batch_stats": self.stats}, x, train=True,
                                  mutable=["batch_stats"])
        self.stats = updates["batch_stats"]

    def versions(self):
        from bnconform.cifar.backends.versions import package_versions

        return package_versions(["flax", "jax", "jaxlib", "optax"])
