"""How a Keras layer is run on each backend, and the layer cache (used by the Keras 3 and tf_keras adapters).

Keras 3 has no backend-agnostic gradient API, so each backend has a small runner:

- ``EagerRunner`` (tensorflow, torch, and tf_keras): the layer is called as a user calls it, eagerly,
  with its variables assigned first; gradients of ``sum(y * dy)`` come from ``tf.GradientTape``
  (``output_gradients=dy``) or ``torch.autograd.grad`` (``grad_outputs=dy``).
- ``JaxRunner``: JAX dispatches an eager call op by op and compiles every primitive for every new shape,
  which made one batch-norm example with gradients cost about a second. It runs
  ``Layer.stateless_call`` under ``jax.jit`` instead, as Keras's own JAX trainer does, with gradients
  from ``jax.vjp`` inside the compiled function: one compilation per layer configuration (shape, axis,
  dtype) and mode, kept with the cached layer and shared by every property (the forward-only ones
  discard the gradients). Epsilon and momentum are arguments of the compiled function (Python floats,
  so JAX traces them weakly typed, exactly as it treats the constants a layer holds), set on the layer
  only while it is traced; so examples that differ only in those, or in values, compile nothing.

Every runner's ``bn`` takes the cached entry, the parameters by variable name, the batches and ``dy``
as backend tensors (NumPy arrays for JAX, which transfers them with the compiled call), and returns
``(y, moving_mean, moving_var, dx, dgamma, dbeta)`` as backend tensors or variables (gradients None
unless asked for).
"""

from __future__ import annotations

import collections
import contextlib

import numpy as np

from .steps import run_steps

CACHE_SIZE = 1024  # layers are small; compiled JAX functions are reused across properties
BN_PARAMS = ("gamma", "beta", "moving_mean", "moving_variance")


class Entry:
    """A cached layer, the functions compiled for it, and what is worked out once about it (``memo``:
    its variables' dtypes and order, which the layer never changes)."""

    __slots__ = ("layer", "compiled", "memo")

    def __init__(self, layer):
        self.layer = layer
        self.compiled: dict = {}
        self.memo: dict = {}

    def remember(self, key, compute):
        value = self.memo.get(key)
        if value is None:
            value = self.memo[key] = compute(self.layer)
        return value


class LayerCache:
    """Layers by configuration, for one Keras module object: everything is dropped when the owner
    changes (Keras re-imported by a backend switch), so no layer outlives the modules it was built with."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self.owner = None
        self.entries: collections.OrderedDict = collections.OrderedDict()

    def get(self, owner, key, build) -> Entry:
        if owner is not self.owner:
            self.entries.clear()
            self.owner = owner
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = Entry(build())
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        else:
            self.entries.move_to_end(key)
        return entry


@contextlib.contextmanager
def hyper_parameters(layer, eps, momentum):
    """Epsilon and momentum of a batch-norm layer for one call (its ``call`` reads both every time)."""
    saved = layer.epsilon, layer.momentum
    layer.epsilon, layer.momentum = eps, momentum
    try:
        yield layer
    finally:
        layer.epsilon, layer.momentum = saved


# --------------------------------------------------------------------------------------------
# Eager backends: tensorflow and torch
# --------------------------------------------------------------------------------------------


def trained_params(layer) -> tuple[str, ...]:
    """The parameters a gradient is taken of: gamma and beta where the layer has them (``scale``,
    ``center``) and is trainable (a frozen layer's are constants)."""
    if not getattr(layer, "trainable", True):
        return ()
    return tuple(n for n in ("gamma", "beta") if getattr(layer, n, None) is not None)


def _by_name(names, grads) -> tuple:
    """(dgamma, dbeta) from the gradients of ``names``, None for a parameter not differentiated."""
    found = dict(zip(names, grads))
    return found.get("gamma"), found.get("beta")


def grads_tensorflow(layer, x, dy, training: bool):
    """(y, dx, dgamma, dbeta) by tf.GradientTape; works for Keras 3 variables and tf.Variables alike.
    dgamma, dbeta None where the layer has no such trainable parameter (``trained_params``)."""
    import tensorflow as tf

    names = trained_params(layer)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
    dx, *dp = tape.gradient(y, [x, *(getattr(layer, n) for n in names)], output_gradients=dy)
    return (y, dx, *_by_name(names, dp))


def grads_torch(layer, x, dy, training: bool):
    """(y, dx, dgamma, dbeta) by torch.autograd.grad; Keras's torch variables hold nn.Parameters."""
    import torch

    names = trained_params(layer)
    x = x.detach().requires_grad_(True)
    y = layer(x, training=training)
    dx, *dp = torch.autograd.grad(y, [x, *(getattr(layer, n).value for n in names)], grad_outputs=dy)
    return (y, dx, *_by_name(names, dp))


def eager_steps(layer, xs, dy, grads_fn, *, training: bool, grads: bool):
    """A Keras layer's calls as a user makes them eagerly (``bnconform.adapters.steps``): ``training=True``
    on every batch but the last, then the last with ``training`` -- by ``grads_fn`` (the backend's
    ``grads_*``) when ``grads``; returns (y, dx, dgamma, dbeta), gradients None without ``grads``.
    Also the user-layer adapter's loop (``bnconform.adapters.keras_user``)."""

    def train_step(_, x):
        layer(x, training=True)

    def last(_, x):
        if grads:
            return tuple(grads_fn(layer, x, dy, training))
        return layer(x, training=training), None, None, None

    return run_steps(xs, train_step, last)


class EagerRunner:
    """Calls the layer directly, as a user does in eager mode."""

    def __init__(self, grads):
        self.grads = grads

    @staticmethod
    def _assign(layer, values) -> None:
        for name, value in values.items():
            getattr(layer, name).assign(value)

    def _bn_calls(self, layer, xs, dy, *, training, grads, eps, momentum):
        """The case's calls on a layer holding its values (``bnconform.adapters.steps``): (y, dx, dgamma,
        dbeta) of the last."""
        with hyper_parameters(layer, eps, momentum):
            return eager_steps(layer, xs, dy, self.grads, training=training, grads=grads)

    def bn(self, entry, params, xs, dy, *, training, grads, eps, momentum):
        layer = entry.layer
        self._assign(layer, params)
        y, *out = self._bn_calls(layer, xs, dy, training=training, grads=grads, eps=eps, momentum=momentum)
        return (y, layer.moving_mean, layer.moving_variance, *out)

    def bn_sequence(self, entry, params, xs, calls, *, eps, momentum, read):
        """The calls in order on one layer holding the values: ``training=True``/``False``, or no flag
        for ``"no-flag"``; ``read`` of the output and of the moving statistics after each call
        (read at once: the variables change with the next call)."""
        layer = entry.layer
        self._assign(layer, params)
        out = []
        with hyper_parameters(layer, eps, momentum):
            for x, call in zip(xs, calls):
                y = layer(x) if call == "no-flag" else layer(x, training=call == "train")
                out.append(tuple(read(t) for t in (y, layer.moving_mean, layer.moving_variance)))
        return out

    def bn_masked(self, entry, params, xs, mask, *, training, eps, momentum):
        """The case's calls, each ``layer(x, training=..., mask=mask)``: (y, moving mean, moving variance)."""
        layer = entry.layer
        self._assign(layer, params)
        with hyper_parameters(layer, eps, momentum):
            y = run_steps(xs, lambda _, x: layer(x, training=True, mask=mask),
                          lambda _, x: layer(x, training=training, mask=mask))
        return (y, layer.moving_mean, layer.moving_variance)

    def call(self, entry, weights, x):
        self._assign(entry.layer, weights)
        return entry.layer(x)

    # the benchmark's bare calls: the values assigned once, then only the layer's calls
    def bare_bn(self, entry, params, xs, dy, **kw):
        self._assign(entry.layer, params)
        return lambda: self._bn_calls(entry.layer, xs, dy, **kw)

    def bare_call(self, entry, weights, x):
        self._assign(entry.layer, weights)
        return lambda: entry.layer(x)


# --------------------------------------------------------------------------------------------
# JAX: compiled stateless calls
# --------------------------------------------------------------------------------------------


def _names(variables, layer) -> tuple[str, ...]:
    """The attribute names (gamma, kernel, ...) of ``variables`` (a layer's trainable or non-trainable
    list), in that list's order."""
    by_id = {id(getattr(layer, name, None)): name for name in (*BN_PARAMS, "kernel", "bias")}
    return tuple(by_id[id(v)] for v in variables)


def _order(entry):
    """(trainable names, non-trainable names) of the entry's layer, in the order stateless_call takes."""
    return entry.remember("order", lambda layer: (_names(layer.trainable_variables, layer),
                                                  _names(layer.non_trainable_variables, layer)))


class JaxRunner:
    """``Layer.stateless_call`` under ``jax.jit``; gradients by ``jax.vjp`` inside the compiled function."""

    def _compiled(self, entry, key, make):
        fn = entry.compiled.get(key)
        if fn is None:
            import jax

            fn = entry.compiled[key] = jax.jit(make(entry.layer))
        return fn

    @staticmethod
    def _bn_step(training: bool):
        """One call and its vector-Jacobian product, compiled together: the forward-only properties
        use the same compiled function (discarding the gradients), which halves the compilations."""

        def make(layer):
            def call_with_grads(trainable, non_trainable, x, dy, eps, momentum):
                import jax

                def call(params, x):
                    with hyper_parameters(layer, eps, momentum):
                        if training is None:  # a call with no training flag
                            return layer.stateless_call(params, non_trainable, x)
                        return layer.stateless_call(params, non_trainable, x, training=training)

                y, vjp, new_state = jax.vjp(call, trainable, x, has_aux=True)
                dtrainable, dx = vjp(dy)
                return y, new_state, dtrainable, dx

            return call_with_grads

        return make

    def _bn_args(self, entry, params, xs, dy):
        """The compiled function's arguments: parameters and state in the layer's variable order,
        the batches, and dy (zeros where no gradient is asked for: the function computes one anyway)."""
        trainable, non_trainable = _order(entry)
        p, state = [params[k] for k in trainable], [params[k] for k in non_trainable]
        return p, state, xs, np.zeros_like(xs[-1]) if dy is None else dy

    def _bn_calls(self, entry, p, state, xs, dy, *, training, eps, momentum):
        """The case's calls: training steps, then the last call; (y, state, dtrainable, dx) of the last."""
        step = self._compiled(entry, ("bn", True), self._bn_step(True))
        last = self._compiled(entry, ("bn", training), self._bn_step(training))
        return run_steps(xs, lambda state, x: step(p, state, x, dy, eps, momentum)[1],
                         lambda state, x: last(p, state, x, dy, eps, momentum), state)

    def bn(self, entry, params, xs, dy, *, training, grads, eps, momentum):
        y, state, dp, dx = self._bn_calls(
            entry, *self._bn_args(entry, params, xs, dy), training=training, eps=eps, momentum=momentum
        )
        trainable, non_trainable = _order(entry)
        state = dict(zip(non_trainable, state))
        out = (None, None, None)
        if grads:
            dp = dict(zip(trainable, dp))  # a frozen layer's, or an absent, gamma or beta has none
            out = (dx, dp.get("gamma"), dp.get("beta"))
        return (y, state["moving_mean"], state["moving_variance"], *out)

    def bn_sequence(self, entry, params, xs, calls, *, eps, momentum, read):
        """The calls in order, the state of each passed to the next: the compiled step for
        ``training=True``, ``False``, or no flag (``None``); ``read`` of y and the moving statistics."""
        p, state, xs, dy = self._bn_args(entry, params, xs, None)
        names = _order(entry)[1]
        out = []
        for x, call in zip(xs, calls):
            training = {"train": True, "inference": False, "no-flag": None}[call]
            y, state, _, _ = self._compiled(entry, ("bn", training), self._bn_step(training))(
                p, state, x, dy, eps, momentum)
            stats = dict(zip(names, state))
            out.append((read(y), read(stats["moving_mean"]), read(stats["moving_variance"])))
        return out

    def bn_masked(self, entry, params, xs, mask, *, training, eps, momentum):
        """``stateless_call(..., training=..., mask=mask)`` under ``jax.jit`` (one compilation per layer
        and mode, the mask an argument): (y, moving mean, moving variance) of the last call."""

        def make(mode):
            def build(layer):
                def call(trainable, non_trainable, x, mask, eps, momentum):
                    with hyper_parameters(layer, eps, momentum):
                        return layer.stateless_call(trainable, non_trainable, x, training=mode, mask=mask)
                return call
            return build

        p, state, xs, _ = self._bn_args(entry, params, xs, None)
        step = self._compiled(entry, ("bn-masked", True), make(True))
        last = self._compiled(entry, ("bn-masked", training), make(training))
        y, state = run_steps(xs, lambda state, x: step(p, state, x, mask, eps, momentum)[1],
                             lambda state, x: last(p, state, x, mask, eps, momentum), state)
        stats = dict(zip(_order(entry)[1], state))
        return (y, stats["moving_mean"], stats["moving_variance"])

    def _call_fn(self, entry):
        return self._compiled(entry, "call", lambda layer: lambda p, x: layer.stateless_call(p, [], x)[0])

    def call(self, entry, weights, x):
        return self._call_fn(entry)([weights[k] for k in _order(entry)[0]], x)

    # the benchmark's bare calls: the same compiled functions on device arrays, waited for
    def bare_bn(self, entry, params, xs, dy, *, training, grads, eps, momentum):
        import jax

        args = jax.device_put(self._bn_args(entry, params, xs, dy))
        return lambda: jax.block_until_ready(
            self._bn_calls(entry, *args, training=training, eps=eps, momentum=momentum)
        )

    def bare_call(self, entry, weights, x):
        import jax

        fn = self._call_fn(entry)
        w, x = jax.device_put(([weights[k] for k in _order(entry)[0]], x))
        return lambda: jax.block_until_ready(fn(w, x))


def runner(backend: str):
    """The runner for a Keras backend (``"tensorflow"`` also serves tf_keras)."""
    if backend == "jax":
        return JaxRunner()
    if backend == "tensorflow":
        return EagerRunner(grads_tensorflow)
    if backend == "torch":
        return EagerRunner(grads_torch)
    raise ValueError(f"backend: expected 'tensorflow', 'jax' or 'torch', got {backend!r}")
