"""JAX trainer with Flax linen and optax: NHWC like Keras, so the weights go in unchanged.

BN: ``nn.BatchNorm(momentum=0.99, epsilon=1e-3, use_fast_variance=False)`` (Flax uses the Keras
momentum convention). The train step is one ``jax.jit`` function (a smaller last batch compiles
once more); dropout keys are ``fold_in(key(seed), step)``.

Device: parameters, batch statistics and optimizer state are made inside ``placement.enter()``
(``jax.default_device``), and every step and forward pass runs inside it, so the NumPy batches are
put on that device and the jitted functions run there (:mod:`bnconform.cifar.device`).
"""

from __future__ import annotations

import numpy as np

from .. import settings
from ..device import CPU_PLACEMENT
from ..order import framework_seed
from .base import Trainer as TrainerBase
from .base import batches, evaluate_logits, summarize


def make_module(spec, momentum: float):
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            for layer in spec:
                if layer.kind == "bn":
                    x = nn.BatchNorm(use_running_average=not train, momentum=momentum,
                                     epsilon=settings.BN_EPSILON, use_fast_variance=False)(x)
                elif layer.kind == "conv":
                    x = nn.Conv(layer.units, (3, 3), padding=layer.padding.upper())(x)
                elif layer.kind == "pool":
                    x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
                elif layer.kind == "flatten":
                    x = x.reshape((x.shape[0], -1))
                elif layer.kind == "dropout":
                    x = nn.Dropout(layer.rate, deterministic=not train)(x)
                elif layer.kind == "dense":
                    x = nn.Dense(layer.units)(x)
                if layer.relu:
                    x = nn.relu(x)
            return x

    return Net()


def variables_from(spec, weights) -> dict:
    """Flax ``{"params", "batch_stats"}`` from canonical weights (auto-names: Conv_0, Dense_1, ...);
    the two-blob trainer (``bnconform/blobs/backends/flax_trainer.py``) uses it too."""
    import jax.numpy as jnp

    params, stats, counters, it = {}, {}, {}, iter(weights)
    names = {"bn": "BatchNorm", "conv": "Conv", "dense": "Dense"}
    for layer in spec:
        if layer.kind not in names:
            continue
        base = names[layer.kind]
        name = f"{base}_{counters.setdefault(base, 0)}"
        counters[base] += 1
        p = next(it)
        if layer.kind == "bn":
            params[name] = {"scale": jnp.asarray(p["gamma"]), "bias": jnp.asarray(p["beta"])}
            stats[name] = {"mean": jnp.asarray(p["mean"]), "var": jnp.asarray(p["var"])}
        else:
            params[name] = {"kernel": jnp.asarray(p["kernel"]),
                            **({"bias": jnp.asarray(p["bias"])} if "bias" in p else {})}  # blobs: no-bias layers
    return {"params": params, "batch_stats": stats}


class Trainer(TrainerBase):
    framework = "flax"
    backend = None

    def __init__(self, spec, weights, *, seed, broken_bn, threads, backend=None, placement=None):
        self.placement = placement or CPU_PLACEMENT
        with self.placement.enter():
            self._build(spec, weights, seed, broken_bn)

    def _build(self, spec, weights, seed, broken_bn):
        import jax
        import optax

        self.module = make_module(spec, settings.bn_momentum(broken_bn))
        variables = variables_from(spec, weights)
        self.params, self.stats = variables["params"], variables["batch_stats"]
        adam = settings.ADAM
        self.tx = optax.adam(adam["learning_rate"], b1=adam["beta1"], b2=adam["beta2"],
                             eps=adam["epsilon"])
        self.opt_state = self.tx.init(self.params)
        self.key = jax.random.key(framework_seed(seed))
        self.step = 0
        module, tx = self.module, self.tx

        def loss_fn(params, stats, x, y, key):
            logits, updates = module.apply({"params": params, "batch_stats": stats}, x, train=True,
                                           rngs={"dropout": key}, mutable=["batch_stats"])
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, (logits, updates["batch_stats"])

        def train_step(params, stats, opt_state, x, y, key):
            (loss, (logits, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                params, stats, x, y, key)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            correct = (logits.argmax(axis=1) == y).sum()
            return params, stats, opt_state, loss, correct

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

        loss_sum, correct = 0.0, 0
        with self.placement.enter():
            for start, stop in batches(len(order), batch_size):
                idx = order[start:stop]
                key = jax.random.fold_in(self.key, self.step)
                self.params, self.stats, self.opt_state, loss, ok = self._train_step(
                    self.params, self.stats, self.opt_state, x[idx], y[idx].astype(np.int32), key)
                self.step += 1
                batch_loss = float(loss)
                loss_sum += batch_loss * len(idx)
                correct += int(ok)
                if on_batch is not None:
                    on_batch(len(idx), batch_loss)
        return summarize(loss_sum, correct, len(order))

    def logits(self, x, training=False):
        with self.placement.enter():
            return np.asarray(self._forward(self.params, self.stats, x, training))

    def evaluate(self, x, y):
        return evaluate_logits(self.logits, x, y)

    def versions(self):
        from .versions import package_versions

        return package_versions(["flax", "jax", "jaxlib", "optax"])
