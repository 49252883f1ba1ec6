"""Flax: ``flax.linen.BatchNorm``, ``flax.linen.max_pool`` / ``avg_pool`` (target ``flax-linen``) and
``flax.nnx.BatchNorm`` (target ``flax-nnx``).

Ranks 2 to 5 with any feature axis; ``use_scale`` and ``use_bias`` are drawn (case fields ``scale``
and ``center``); ``use_running_average`` is the mode.

Conventions, from ``flax/linen/normalization.py`` and ``flax/nnx/nn/normalization.py`` (flax 0.12.8),
and measured by ``tests/adapters/test_flax_adapter.py`` and ``bnconform.adapters.fingerprint``:

- momentum has Keras's meaning: ``ra = momentum * ra + (1 - momentum) * batch`` (default 0.99);
- the running variance is the biased batch variance (divide by m), default ``epsilon`` 1e-5,
  default ``axis`` -1 (features last);
- ``use_fast_variance=True`` by default: the batch variance is ``max(0, E[x^2] - E[x]^2)`` in one pass
  (``_compute_stats``), which cancels catastrophically when the offset is large relative to the
  spread. The adapters test the layer as users get it, with this default (see known_deviations.toml);
- statistics are computed in at least float32 (``force_float32_reductions=True``), and a fresh layer
  stores its running statistics in float32 whatever ``param_dtype`` is;
- linen: ``use_running_average`` has no default -- it must be given at construction or call, else the
  layer raises; the running statistics live in the ``batch_stats`` collection, updated only when it is
  ``mutable``. nnx: ``use_running_average=False`` by default, so a layer called with no flag trains;
  nnx passes x, the running statistics, scale and bias through ``promote_dtype`` to the layer dtype,
  so with ``dtype=float16`` an inference call runs wholly in float16 (linen keeps the float32 statistics).

How a case runs: the layer is built with ``dtype = param_dtype = case.dtype`` (parameters and output
in the case's dtype, as a half-precision user sets them) and the given gamma, beta and running
statistics; the running statistics are held in ``promote_types(case.dtype, float32)`` -- float32, as
Flax creates them, for half precision and float32, float64 for float64 cases (a float32 store would
round the given statistics). Gradients come from ``jax.vjp`` of the layer's apply function with respect
to x, scale and bias. float64 runs under ``jax.enable_x64`` scoped to the call (``bnconform.adapters.jax_common``).

Speed: the layer is constructed *inside* module-level jitted functions with ``epsilon`` and
``momentum`` as traced arguments, and only (feature axis, mode) static, so every example with the
same shapes and dtype reuses one compiled program whatever its eps and momentum. They are passed as
Python floats, which jit traces as weakly typed scalars: like a constant, they take the dtype of what
they meet (float32 statistics, float64 under x64). One difference from a constant remains: Flax's
``1 - momentum`` is then computed in that dtype instead of in Python's float64, which moves the weight
by at most one rounding -- the moving-statistics bound allows for a rounded momentum.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .base import Adapter, BNRun, Capabilities, Conventions, DefaultRun, LayerState
from .jax_common import DTYPES, as_float64, as_input, bare, layout, padding_arg, x64_scope
from .steps import batches, default_run, run_steps

CONVENTIONS = Conventions(
    momentum="keras",
    running_var="biased",
    default_eps=1e-5,
    default_momentum=0.99,
    default_axis=-1,
    notes="ra = momentum * ra + (1 - momentum) * batch; biased running variance; "
    "use_fast_variance=True (one-pass E[x^2] - E[x]^2) by default; statistics in float32 or wider",
)

_BN = dict(
    dtypes=DTYPES,
    bn_modes=("train", "inference"),
    bn_backward=True,
    bn_ranks=(2, 3, 4, 5),
    bn_any_axis=True,  # the ``axis`` attribute takes any axis; one value per feature: variance 0, no error
    bn_flags=("scale", "center"),  # use_scale, use_bias; use_running_average is the mode
)

LINEN_CAPABILITIES = Capabilities(
    ops=("batch_norm", "pool2d"),
    **_BN,
    pool_kinds=("max", "avg"),  # no Lp and no global pooling in flax.linen
    pool_data_formats=("channels_last",),  # flax pooling takes (batch, spatial..., features)
    pool_paddings=("valid", "same", "explicit"),
    pool_count_include_pad=(True, False),
    bn_synchronized=True,  # linen.BatchNorm(axis_name=...) under jax.vmap over one replica
)

# nnx.BatchNorm(axis_name=...) exists too; the suite drives the synchronized layer through linen only
NNX_CAPABILITIES = Capabilities(ops=("batch_norm",), **_BN)


def stats_dtype(dtype: str) -> str:
    """Where Flax keeps the running statistics for a layer computing in ``dtype``."""
    return "float64" if dtype == "float64" else "float32"


# -- flax.linen ----------------------------------------------------------------------------------


def _linen_layer(eps, momentum, axis: int, dtype, use_scale: bool = True, use_bias: bool = True) -> nn.BatchNorm:
    return nn.BatchNorm(axis=axis, momentum=momentum, epsilon=eps, dtype=dtype, param_dtype=dtype,
                        use_scale=use_scale, use_bias=use_bias)


def _linen_apply(params, stats, x, eps, momentum, axis: int, training: bool, use_scale: bool, use_bias: bool):
    layer = _linen_layer(eps, momentum, axis, x.dtype, use_scale, use_bias)
    y, updated = layer.apply(
        {"params": params, "batch_stats": stats}, x, use_running_average=not training, mutable=["batch_stats"]
    )
    return y, updated["batch_stats"]


def _vjp_step(apply, params, stats, x, dy, eps, momentum, axis: int, training: bool, use_scale: bool,
              use_bias: bool):
    """One call of ``apply`` and the vjp of sum(y * dy) with respect to x, scale and bias (None for
    a parameter the layer does not have: ``use_scale``/``use_bias`` False)."""

    def f(x, params):
        return apply(params, stats, x, eps, momentum, axis, training, use_scale, use_bias)

    y, vjp, new_stats = jax.vjp(f, x, params, has_aux=True)
    dx, dparams = vjp(dy)
    return y, new_stats, dx, dparams.get("scale"), dparams.get("bias")


_STATIC = ("axis", "training", "use_scale", "use_bias")


@partial(jax.jit, static_argnames=_STATIC)
def _linen_step(params, stats, x, eps, momentum, *, axis, training, use_scale=True, use_bias=True):
    """One call: the output and the batch_stats collection after it."""
    return _linen_apply(params, stats, x, eps, momentum, axis, training, use_scale, use_bias)


@partial(jax.jit, static_argnames=_STATIC)
def _linen_step_grads(params, stats, x, dy, eps, momentum, *, axis, training, use_scale=True, use_bias=True):
    return _vjp_step(_linen_apply, params, stats, x, dy, eps, momentum, axis, training, use_scale, use_bias)


#: the vmapped axis a synchronized linen.BatchNorm reduces its statistics over (one replica)
REPLICA = "replica"


def _linen_apply_synchronized(params, stats, x, eps, momentum, axis: int, training: bool, use_scale: bool = True,
                              use_bias: bool = True):
    """``linen.BatchNorm(axis_name=REPLICA)`` on one replica: x given a leading replica axis of size 1
    under ``jax.vmap(axis_name=REPLICA)``, so the batch statistics go through ``lax.pmean`` over it
    (flax/linen/normalization.py, ``_compute_stats``), as under ``pmap`` or ``shard_map``."""

    def one(x):
        layer = nn.BatchNorm(axis=axis, momentum=momentum, epsilon=eps, dtype=x.dtype, param_dtype=x.dtype,
                             axis_name=REPLICA, use_scale=use_scale, use_bias=use_bias)
        y, updated = layer.apply({"params": params, "batch_stats": stats}, x, use_running_average=not training,
                                 mutable=["batch_stats"])
        return y, updated["batch_stats"]

    y, updated = jax.vmap(one, axis_name=REPLICA)(x[None])
    return y[0], jax.tree_util.tree_map(lambda a: a[0], updated)


@partial(jax.jit, static_argnames=_STATIC)
def _linen_sync_step(params, stats, x, eps, momentum, *, axis, training, use_scale=True, use_bias=True):
    return _linen_apply_synchronized(params, stats, x, eps, momentum, axis, training, use_scale, use_bias)


@partial(jax.jit, static_argnames=_STATIC)
def _linen_sync_step_grads(params, stats, x, dy, eps, momentum, *, axis, training, use_scale=True, use_bias=True):
    return _vjp_step(_linen_apply_synchronized, params, stats, x, dy, eps, momentum, axis, training, use_scale,
                     use_bias)


@partial(jax.jit, static_argnames=("window", "strides", "padding"))
def _linen_max_pool(x, *, window, strides, padding):
    return nn.max_pool(x, window, strides=strides, padding=padding)


@partial(jax.jit, static_argnames=("window", "strides", "padding", "count_include_pad"))
def _linen_avg_pool(x, *, window, strides, padding, count_include_pad):
    return nn.avg_pool(x, window, strides=strides, padding=padding, count_include_pad=count_include_pad)


# -- flax.nnx ------------------------------------------------------------------------------------


def _nnx_layer(gamma, beta, mean, var, eps, momentum, axis: int, n_features: int, dtype) -> nnx.BatchNorm:
    """gamma or beta None: the layer built without it (``use_scale``/``use_bias`` False)."""
    layer = nnx.BatchNorm(
        n_features, axis=axis, momentum=momentum, epsilon=eps, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0),
        use_scale=gamma is not None, use_bias=beta is not None,
    )
    # the array replaced, not written into (``layer.mean[...] = v`` would cast v into the float32 store)
    if gamma is not None:
        set_array(layer.scale, gamma)
    if beta is not None:
        set_array(layer.bias, beta)
    set_array(layer.mean, mean)
    set_array(layer.var, var)
    return layer


def set_array(variable, array) -> None:
    """Replace an ``nnx.Variable``'s array: ``set_value`` where flax has it (0.12.8 does), else the
    ``value`` setter (flax 0.10, which has no ``set_value``: its ``Variable.__getattr__`` forwards the
    name to the array, and a traced array has no such attribute), which replaces the array too."""
    if hasattr(type(variable), "set_value"):
        variable.set_value(array)
    else:
        variable.value = array


def get_array(variable):
    """An ``nnx.Variable``'s array: ``get_value`` where flax has it, else ``value`` (flax 0.10)."""
    return variable.get_value() if hasattr(type(variable), "get_value") else variable.value


def _nnx_apply(params, stats, x, eps, momentum, axis: int, training: bool, use_scale: bool, use_bias: bool):
    layer = _nnx_layer(
        params.get("scale"), params.get("bias"), stats["mean"], stats["var"], eps, momentum, axis, x.shape[axis],
        x.dtype
    )
    y = layer(x, use_running_average=not training)
    return y, {"mean": get_array(layer.mean), "var": get_array(layer.var)}


@partial(jax.jit, static_argnames=_STATIC)
def _nnx_step(params, stats, x, eps, momentum, *, axis, training, use_scale=True, use_bias=True):
    return _nnx_apply(params, stats, x, eps, momentum, axis, training, use_scale, use_bias)


@partial(jax.jit, static_argnames=_STATIC)
def _nnx_step_grads(params, stats, x, dy, eps, momentum, *, axis, training, use_scale=True, use_bias=True):
    return _vjp_step(_nnx_apply, params, stats, x, dy, eps, momentum, axis, training, use_scale, use_bias)


# -- layers with every default (the fingerprint probes) ---------------------------------------


def _flag(training: bool | None) -> tuple:
    """The call's keyword: none at all for ``training=None``, else ``use_running_average``."""
    return () if training is None else (("use_running_average", not training),)


@jax.jit
def _linen_default_init(x):
    # linen's init needs the flag too; init never updates the running statistics, so either value
    # yields the fresh state.
    return nn.BatchNorm().init(jax.random.key(0), x, use_running_average=True)


@partial(jax.jit, static_argnames=("flag",))
def _linen_default_call(variables, x, *, flag):
    return nn.BatchNorm().apply(variables, x, mutable=["batch_stats"], **dict(flag))


@partial(jax.jit, static_argnames=("graphdef", "flag"))
def _nnx_default_call(graphdef, state, x, *, flag):
    layer = nnx.merge(graphdef, state)
    y = layer(x, **dict(flag))
    return y, get_array(layer.mean), get_array(layer.var)


_IMPL = {
    "linen": (_linen_step, _linen_step_grads),
    "nnx": (_nnx_step, _nnx_step_grads),
}


class FlaxAdapter(Adapter):
    """``flax.linen.BatchNorm`` + pooling (``api="linen"``) or ``flax.nnx.BatchNorm`` (``api="nnx"``)."""

    bn_flag_reasons = {
        "affine": "Flax turns gamma and beta off apart (use_scale, use_bias): drawn as scale and center",
        "track_running_stats": "Flax keeps running statistics whenever the batch_stats collection is mutable; "
                               "use_running_average is the mode",
        "trainable": "Flax has no frozen layer: parameters are frozen by the optimizer, not the module",
    }

    def __init__(self, api: str):
        if api not in _IMPL:
            raise ValueError(f"api: expected 'linen' or 'nnx', got {api!r}")
        linen = api == "linen"
        super().__init__(
            name=f"flax-{api}",
            framework="flax",
            version=flax.__version__,
            # no training flag: linen's use_running_average has no default, nnx's defaults to training
            conventions=dataclasses.replace(CONVENTIONS, call_without_flag="refuses" if linen else "train"),
            capabilities=LINEN_CAPABILITIES if linen else NNX_CAPABILITIES,
            description="flax.linen.BatchNorm, linen.max_pool/avg_pool" if linen else "flax.nnx.BatchNorm",
            extra={"jax": jax.__version__, "x64": "scoped: jax.enable_x64(True) around float64 cases only"},
        )
        self.api = api
        self._step, self._step_grads = _IMPL[api]

    # -- batch normalization ------------------------------------------------------------------
    def _prepare(self, case, inputs, training: bool, grads: bool):
        """The jitted functions' arguments for a case: parameters, running statistics, batches and dy
        (NumPy arrays; statistics in ``stats_dtype``), the hyper-parameters and the static arguments."""
        dt, sdt = case.dtype, stats_dtype(case.dtype)
        params = {}  # without use_scale or use_bias the layer has no such parameter
        if case.scale:
            params["scale"] = as_input(inputs.gamma, dt)
        if case.center:
            params["bias"] = as_input(inputs.beta, dt)
        stats = {"mean": as_input(inputs.moving_mean, sdt), "var": as_input(inputs.moving_var, sdt)}
        xs = [as_input(x, dt) for x in batches(inputs, training)]
        dy = as_input(inputs.dy, dt) if grads else None
        kw = dict(axis=case.axis % len(case.shape), training=training, use_scale=case.scale, use_bias=case.center)
        return params, stats, xs, dy, (float(case.eps), float(case.momentum)), kw

    def _calls(self, params, stats, xs, dy, hyper, kw, steps=None):
        """The layer's calls (``bnconform.adapters.steps``): the training steps, each passing its running
        statistics to the next, then the last call (with its vjp when ``dy`` is given); the last
        call's results. ``steps``: (step, step with gradients) other than the API's own."""
        step, step_grads = steps or (self._step, self._step_grads)

        def train_step(stats, x):
            return step(params, stats, x, *hyper, **dict(kw, training=True))[1]

        def last(stats, x):
            if dy is None:
                return step(params, stats, x, *hyper, **kw)
            return step_grads(params, stats, x, dy, *hyper, **kw)

        return run_steps(xs, train_step, last, stats)

    def bn_synchronized(self, case, inputs, *, training: bool, grads: bool = False) -> BNRun:
        """``bn`` through ``linen.BatchNorm(axis_name=...)`` on one vmapped replica (linen only)."""
        if self.api != "linen":
            raise ValueError(f"{self.name}: the synchronized layer is driven through flax.linen only")
        return self.bn(case, inputs, training=training, grads=grads,
                       steps=(_linen_sync_step, _linen_sync_step_grads))

    def synchronized_refusal(self) -> str | None:
        return None

    def bn(self, case, inputs, *, training: bool, grads: bool = False, steps=None) -> BNRun:
        with x64_scope(case.dtype):
            out = self._calls(*self._prepare(case, inputs, training, grads), steps=steps)
            if not grads:
                y, stats = out
                return BNRun(as_float64(y), as_float64(stats["mean"]), as_float64(stats["var"]))
            y, stats, dx, dgamma, dbeta = out
            return BNRun(*(None if a is None else as_float64(a) for a in (y, stats["mean"], stats["var"], dx, dgamma,
                                                                        dbeta)))

    def bn_sequence(self, case, inputs, calls) -> list[BNRun]:
        """The compiled step per call, ``use_running_average`` set from the call, the running
        statistics of each call passed to the next (a call with no flag: linen refuses it, nnx
        trains; the property does not draw one for either)."""
        if "no-flag" in calls:
            raise ValueError(f"case: {self.name} has no call without a training flag in call sequences")
        with x64_scope(case.dtype):
            params, stats, xs, _, hyper, kw = self._prepare(case, inputs, True, False)
            runs = []
            for x, call in zip(xs, calls):
                y, stats = self._step(params, stats, x, *hyper, **dict(kw, training=call == "train"))
                runs.append(BNRun(as_float64(y), as_float64(stats["mean"]), as_float64(stats["var"])))
            return runs

    def unsupported(self, case) -> str | None:
        if getattr(case, "op", None) == "batch_norm" and case.momentum is None:
            return "Flax's momentum is a float; there is no cumulative-average mode"
        return None

    def bn_default(self, x: np.ndarray, *, training: bool | None) -> DefaultRun:
        """A layer with every default on ``x`` (float32). ``training=None`` calls it with no flag:
        linen then raises (``use_running_average`` has no default), nnx trains (its default is False)."""
        with x64_scope("float32"):
            x = jnp.asarray(as_input(x, "float32"))
            if self.api == "linen":
                return self._linen_default(x, training)
            return self._nnx_default(x, training)

    @staticmethod
    def _linen_default(x, training):
        variables = _linen_default_init(x)
        p, s = variables["params"], variables["batch_stats"]
        initial = LayerState(*(as_float64(a) for a in (p["scale"], p["bias"], s["mean"], s["var"])))

        def call():
            y, updated = _linen_default_call(variables, x, flag=_flag(training))
            return y, updated["batch_stats"]["mean"], updated["batch_stats"]["var"]

        return default_run(initial, call, as_float64)

    @staticmethod
    def _nnx_default(x, training):
        graphdef, state = nnx.split(nnx.BatchNorm(x.shape[-1], rngs=nnx.Rngs(0)))
        layer = nnx.merge(graphdef, state)
        initial = LayerState(
            *(as_float64(get_array(v)) for v in (layer.scale, layer.bias, layer.mean, layer.var))
        )
        return default_run(initial, lambda: _nnx_default_call(graphdef, state, x, flag=_flag(training)), as_float64)

    # -- pooling (linen only) -----------------------------------------------------------------
    def _pool_call(self, case):
        """The jitted pooling op with the case's static configuration: a function of x."""
        if self.api != "linen":
            raise ValueError(f"op: {self.name} offers batch_norm only")
        if layout(case.data_format) != "NHWC":
            raise ValueError("data_format: flax.linen pooling takes channels_last (batch, H, W, features) only")
        if case.ceil_mode:
            raise ValueError("ceil_mode: flax.linen pooling has no ceil mode")
        kw = dict(window=tuple(case.window), strides=tuple(case.stride), padding=padding_arg(case.padding))
        if case.kind == "max":
            return partial(_linen_max_pool, **kw)
        if case.kind == "avg":
            return partial(_linen_avg_pool, **kw, count_include_pad=bool(case.count_include_pad))
        raise ValueError(f"kind: flax.linen offers 'max' and 'avg' pooling, got {case.kind!r}")

    def pool2d(self, case, inputs: np.ndarray) -> np.ndarray:
        fn = self._pool_call(case)
        with x64_scope(case.dtype):
            return as_float64(fn(as_input(inputs, case.dtype)))

    # -- benchmark ------------------------------------------------------------------------------
    def bare_call(self, prop: str, mode: str, case, inputs):
        """The adapter's jitted calls (every step of the case, the last with its vjp for
        ``bn_backward``) on arrays already on the device, waited for."""
        with x64_scope(case.dtype):
            if case.op == "pool2d":
                fn, x = self._pool_call(case), jax.device_put(as_input(inputs, case.dtype))
                return bare(case.dtype, lambda: fn(x))
            params, stats, xs, dy, hyper, kw = self._prepare(case, inputs, mode == "train", prop == "bn_backward")
            params, stats, xs, dy = jax.device_put((params, stats, xs, dy))
        return bare(case.dtype, lambda: self._calls(params, stats, xs, dy, hyper, kw))


def load_linen() -> FlaxAdapter:
    return FlaxAdapter("linen")


def load_nnx() -> FlaxAdapter:
    return FlaxAdapter("nnx")
