"""A user's own Keras batch-norm layer (``--bn-impl keras:MODULE:NAME``), driven like
``keras.layers.BatchNormalization``: Keras's conventions, eager calls, gradients from the backend.

A user layer may keep its hyper-parameters under any attribute name, so it is built anew for every
example with that example's ``axis``, ``momentum`` and ``epsilon`` (no layer cache), then given the
example's gamma, beta and moving statistics through ``assign``. Keras runs on the backend it was
imported with (``KERAS_BACKEND``, default tensorflow); tensorflow and torch are supported (gradients
by ``tf.GradientTape`` or ``torch.autograd``).

Every dtype Keras's own layer is checked in (float16, bfloat16, float32, float64). As the Keras
adapters build ``BatchNormalization(dtype=...)``, a user layer is built with ``dtype=`` (a Keras dtype
policy: its variables and computation in that dtype) for every dtype but float32, which it gets by
default, so a class without a ``dtype`` argument is still checked in float32. A class that cannot be
built or called in a dtype (``dtype_refusal``: tried once per dtype) has that dtype skipped with its
message.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import numpy as np

from .base import Adapter, BNRun, DefaultRun, LayerState
from .user_impl import restrict
from .keras_adapter import CAPABILITIES, CONVENTIONS
from .keras_backends import BN_PARAMS, eager_steps, grads_tensorflow, grads_torch
from .keras_layers import bn_options, default_call, exact_dtype, keras_numpy
from .steps import batches, default_run, run_steps


def call_takes_mask(cls) -> bool:
    """Whether ``cls.call`` takes a ``mask`` argument (by name, or ``**kwargs``): Keras hands a
    layer's mask to ``call`` only then (``bn_masked``; a class without one skips it with that reason)."""
    try:
        params = inspect.signature(cls.call).parameters
    except (TypeError, ValueError, AttributeError):
        return False
    return "mask" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class UserKerasAdapter(Adapter):
    def __init__(self, cls, spec: str, target: str):
        from .user_impl import UsageError

        keras = importlib.import_module("keras")
        backend = keras.backend.backend()
        if backend not in ("tensorflow", "torch"):
            raise UsageError(
                f"--bn-impl {spec}: Keras runs on {backend!r}; gradients of a user layer are taken on the "
                "tensorflow or torch backend (set KERAS_BACKEND)"
            )
        super().__init__(
            name=target,
            framework="keras",
            version=keras.__version__,
            conventions=CONVENTIONS,
            capabilities=dataclasses.replace(CAPABILITIES, ops=("batch_norm",), bn_masks=call_takes_mask(cls)),
            backend=backend,
            description=f"{cls.__module__}.{cls.__qualname__} (user class, Keras conventions)",
        )
        self.cls, self.spec, self._keras = cls, spec, keras
        self._grads = grads_tensorflow if backend == "tensorflow" else grads_torch
        self._refusals: dict = {}  # dtype -> the message of the layer's refusal, or None
        self._flags, self._ranks = self._surface()
        self.capabilities = restrict(self.capabilities, self._flags, self._ranks)

    #: the ranks a user's class is tried on beyond 2 and 4, and their probe shapes (features last)
    PROBE_SHAPES = {3: (4, 2, 3), 5: (2, 2, 2, 2, 3)}

    def _surface(self) -> tuple[dict, dict]:
        """(option -> refusal or None, rank -> refusal or None) (``bnconform.adapters.user_surface``):
        ``center`` and ``scale`` by signature and by construction; ``trainable`` is every Keras layer's
        attribute, set after building as a fine-tuning user does, so it is always drawn; ranks 3 and 5
        by a ``training=True`` and a ``training=False`` call."""
        from . import user_surface

        def construct(keyword):
            self.cls(axis=-1, momentum=0.99, epsilon=1e-3, **{keyword: False}).build((4, 3))

        flags = user_surface.flag_refusals(self.cls, self.spec, {"center": "center", "scale": "scale"}, construct)
        flags["trainable"] = None

        def call(rank):
            shape = self.PROBE_SHAPES[rank]
            layer = self.cls(axis=-1, momentum=0.99, epsilon=1e-3)
            layer.build(shape)
            x = self._t(np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape))
            layer(x, training=True)
            layer(x, training=False)

        ranks = user_surface.rank_refusals(self.spec, self.PROBE_SHAPES, call,
                                           f"{self.cls.__name__}(axis=-1), training=True and False calls")
        return flags, ranks

    @property
    def bn_flag_reasons(self) -> dict:
        from .keras_layers import KerasLayersAdapter

        return {**KerasLayersAdapter.bn_flag_reasons, **{f: r for f, r in self._flags.items() if r}}

    def probes(self) -> dict:
        return {f"batch_norm rank {rank}": reason for rank, reason in self._ranks.items()}

    def _t(self, a, dtype: str = "float32"):
        """``a`` as a tensor of ``dtype``, crossing without rounding (its values are representable)."""
        ops, exact = self._keras.ops, exact_dtype(dtype)
        t = ops.convert_to_tensor(np.asarray(a, exact), dtype=exact)
        return t if dtype == exact else ops.cast(t, dtype)

    def _n(self, t) -> np.ndarray:
        return keras_numpy(self._keras, t)

    def _new(self, dtype: str, **kwargs):
        """The user's layer in ``dtype``: ``dtype=`` passed for every dtype but the default float32."""
        return self.cls(**kwargs) if dtype == "float32" else self.cls(**kwargs, dtype=dtype)

    def _variable_dtype(self, variable) -> str:
        return self._keras.backend.standardize_dtype(variable.dtype)

    def _layer(self, case, inputs):
        """A new layer built for ``case`` and holding its gamma, beta and moving statistics (each
        given in its variable's own dtype)."""
        layer = self._new(case.dtype, axis=case.axis, momentum=case.momentum, epsilon=case.eps, **bn_options(case))
        layer.build(case.shape)
        if not case.trainable:
            layer.trainable = False  # frozen after building, as a fine-tuning user does
        values = zip(BN_PARAMS, (inputs.gamma, inputs.beta, inputs.moving_mean, inputs.moving_var))
        for name, value in values:
            if (name == "gamma" and not case.scale) or (name == "beta" and not case.center):
                continue  # the case's layer has no such parameter
            variable = getattr(layer, name)
            variable.assign(self._t(value, self._variable_dtype(variable)))
        return layer

    def _xs(self, case, xs):
        return [self._t(x, case.dtype) for x in xs]

    def _calls(self, layer, xs, dy, training: bool, grads: bool):
        """Every step of the case on framework tensors, as the Keras adapters make them eagerly
        (``keras_backends.eager_steps``); returns (y, dx, dgamma, dbeta)."""
        return eager_steps(layer, xs, dy, self._grads, training=training, grads=grads)

    def bn(self, case, inputs, *, training: bool, grads: bool = False) -> BNRun:
        layer = self._layer(case, inputs)
        xs = self._xs(case, batches(inputs, training))
        y, *out = self._calls(layer, xs, self._t(inputs.dy, case.dtype), training, grads)
        return BNRun(self._n(y), self._n(layer.moving_mean), self._n(layer.moving_variance),
                     *(None if g is None else self._n(g) for g in out))

    def bn_masked(self, case, inputs, *, training: bool) -> BNRun:
        """A new layer holding the case's values, every call with ``mask=`` the case's mask."""
        if inputs.mask is None:
            raise ValueError("inputs: bn_masked needs a mask (a case with case.mask)")
        layer = self._layer(case, inputs)
        mask = self._keras.ops.convert_to_tensor(np.asarray(inputs.mask, bool))
        y = run_steps(self._xs(case, batches(inputs, training)), lambda _, x: layer(x, training=True, mask=mask),
                      lambda _, x: layer(x, training=training, mask=mask))
        return BNRun(self._n(y), self._n(layer.moving_mean), self._n(layer.moving_variance))

    def bare_call(self, prop: str, mode: str, case, inputs):
        """The user layer built once with the case's values, tensors converted beforehand; each
        call re-assigns the starting moving statistics (the steps update them) and runs the
        adapter's steps. The layer is rebuilt per example in ``_run``, so that building is adapter
        overhead here, as the layer cache's misses are for the Keras adapters."""
        training = mode == "train"
        layer = self._layer(case, inputs)
        xs = self._xs(case, batches(inputs, training))
        dy = self._t(inputs.dy, case.dtype)
        start = [self._t(v, self._variable_dtype(getattr(layer, name)))
                 for v, name in ((inputs.moving_mean, "moving_mean"), (inputs.moving_var, "moving_variance"))]

        def call():
            layer.moving_mean.assign(start[0])
            layer.moving_variance.assign(start[1])
            return self._calls(layer, xs, dy, training, prop == "bn_backward")

        return call

    def bn_default(self, x: np.ndarray, *, training: bool | None) -> DefaultRun:
        layer = self.cls()
        layer.build(np.shape(x))
        initial = LayerState(*(self._n(getattr(layer, name)) for name in BN_PARAMS))
        t = self._t(x)
        return default_run(initial, lambda: default_call(layer, t, training), self._n)

    def bn_sequence(self, case, inputs, calls) -> list[BNRun]:
        """One layer, the calls in order: ``training=True``, ``training=False``, or no flag at all."""
        layer = self._layer(case, inputs)
        runs = []
        for x, call in zip(self._xs(case, inputs.xs), calls):
            y = layer(x) if call == "no-flag" else layer(x, training={"train": True, "inference": False}[call])
            runs.append(BNRun(self._n(y), self._n(layer.moving_mean), self._n(layer.moving_variance)))
        return runs

    def _float64_in_float32(self) -> str | None:
        """Whether ``keras.ops`` compute float64 in float32 on this backend (Keras's type promotion maps
        float64 to float32 on every backend but tensorflow: the keras-torch and keras-jax targets record
        it as a known deviation), measured: the mean of float64 [1, 1 + 2**-40] is 1 + 2**-41 in
        float64 and 1.0 in float32. A layer built from ``keras.ops`` inherits it."""
        ops = self._keras.ops
        x = ops.convert_to_tensor(np.array([1.0, 1.0 + 2.0**-40]), dtype="float64")
        mean = float(self._n(ops.mean(x)))
        if mean == 1.0 + 2.0**-41:
            return None
        return (f"--bn-impl {self.spec}: float64 is not checked on Keras's {self.backend} backend, whose ops "
                f"compute float64 in float32 (keras.ops.mean of float64 [1, 1 + 2**-40] = {mean!r}, not "
                f"1 + 2**-41; a known deviation of the keras-{self.backend} target), so any layer built "
                "from keras.ops would fail for Keras's reason; float64 is checked on the tensorflow backend")

    def dtype_refusal(self, op: str, dtype: str) -> str | None:
        """Build the layer in ``dtype`` as the adapter does and call it once with ``training=True`` and
        once with ``training=False`` on a (4, 3) input of that dtype; the first exception is the refusal.
        float64 on a backend whose ops compute it in float32 is skipped too (``_float64_in_float32``)."""
        if dtype == "float64" and "float64-backend" not in self._refusals:
            self._refusals["float64-backend"] = self._float64_in_float32()
        if dtype == "float64" and self._refusals["float64-backend"]:
            return self._refusals["float64-backend"]
        if dtype not in self._refusals:
            from .user_impl import refusal_message

            arg = "" if dtype == "float32" else f", dtype={dtype!r}"
            what = f"{self.cls.__name__}(axis=-1, momentum=0.99, epsilon=1e-3{arg}), calls on (4, 3)"
            try:
                layer = self._new(dtype, axis=-1, momentum=0.99, epsilon=1e-3)
                layer.build((4, 3))
                x = self._t(np.linspace(-1.0, 1.0, 12).reshape(4, 3), dtype)
                layer(x, training=True)
                layer(x, training=False)
                self._refusals[dtype] = None
            except Exception as e:  # noqa: BLE001 - the layer's own refusal is the reason
                self._refusals[dtype] = refusal_message(self.spec, dtype, what, e)
        return self._refusals[dtype]

    def unsupported(self, case) -> str | None:
        if case.op == "batch_norm" and case.momentum is None:
            return "Keras BatchNormalization has no cumulative moving average (momentum=None)"
        return self.dtype_refusal(case.op, case.dtype)
