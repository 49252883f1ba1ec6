"""JAX with Flax linen and optax: the module of a layer spec, its variables from canonical
weights, Adam, and the train step.

NHWC like Keras, so the canonical weights go in unchanged (:func:`variables_from`). BN:
``nn.BatchNorm(momentum, epsilon, use_fast_variance=False)``: Flax takes the Keras momentum
convention (the weight of the old statistic); the two-pass variance ``mean((x - mean)^2)`` as
PyTorch and Keras compute it, not Flax's default ``E[x^2] - E[x]^2``.
"""

from __future__ import annotations

from .trainer import Trainer
from .versions import package_versions


def make_module(spec, momentum: float, epsilon: float, squeeze: bool = False):
    """The linen module of ``spec`` (``__call__(x, train)``); ``squeeze``: the output is the one
    unit of the last layer, shape ``(n,)``."""
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            for layer in spec:
                if layer.kind == "bn":
                    x = nn.BatchNorm(use_running_average=not train, momentum=momentum,
                                     epsilon=epsilon, use_fast_variance=False)(x)
                elif layer.kind == "conv":
                    x = nn.Conv(layer.units, (3, 3), padding=layer.padding.upper(), use_bias=layer.bias)(x)
                elif layer.kind == "pool":
                    x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
                elif layer.kind == "flatten":
                    x = x.reshape((x.shape[0], -1))
                elif layer.kind == "dropout":
                    x = nn.Dropout(layer.rate, deterministic=not train)(x)
                elif layer.kind == "dense":
                    x = nn.Dense(layer.units, use_bias=layer.bias)(x)
                if layer.relu:
                    x = nn.relu(x)
            return x[:, 0] if squeeze else x

    return Net()


def variables_from(spec, weights) -> dict:
    """Flax ``{"params", "batch_stats"}`` from canonical weights (auto-names: Conv_0, Dense_1, ...)."""
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
                            **({"bias": jnp.asarray(p["bias"])} if "bias" in p else {})}
    return {"params": params, "batch_stats": stats}


def adam(settings: dict):
    """``optax.adam`` with ``{"learning_rate", "beta1", "beta2", "epsilon"}``."""
    import optax

    return optax.adam(settings["learning_rate"], b1=settings["beta1"], b2=settings["beta2"],
                      eps=settings["epsilon"])


def train_step(module, tx, loss_of, correct_of):
    """``step(params, stats, opt_state, x, y, rngs) -> (params, stats, opt_state, loss, correct)``:
    one optimizer step on the batch's mean ``loss_of(output, y)``, BN in training mode (its moving
    statistics updated), ``rngs`` the module's random streams (``{"dropout": key}``, or ``{}``).
    Not jitted: the experiment jits it with its own policy (argument donation, caching)."""
    import jax
    import optax

    def loss_fn(params, stats, x, y, rngs):
        out, updates = module.apply({"params": params, "batch_stats": stats}, x, train=True,
                                    rngs=rngs, mutable=["batch_stats"])
        return loss_of(out, y).mean(), (out, updates["batch_stats"])

    def step(params, stats, opt_state, x, y, rngs):
        (loss, (out, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, x, y, rngs)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, stats, opt_state, loss, correct_of(out, y)

    return step


class FlaxTrainer(Trainer):
    """The Flax family: ``self.params``, ``self.stats``, ``self.opt_state``, ``self.tx``."""

    framework = "flax"
    backend = None

    def _init_state(self, spec, weights, tx) -> None:
        """Variables from canonical ``weights`` and the optimizer ``tx``'s initial state."""
        variables = variables_from(spec, weights)
        self.params, self.stats = variables["params"], variables["batch_stats"]
        self.tx = tx
        self.opt_state = tx.init(self.params)

    def versions(self) -> dict:
        return package_versions(["flax", "jax", "jaxlib", "optax"])
