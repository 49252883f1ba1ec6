"""The ops through Keras layers, shared by the Keras 3 adapter (``keras_adapter``) and the legacy Keras 2
adapter (``tf_keras_adapter``); each subclass says how to reach its Keras module and convert tensors.

Arguments are translated from the reference's terms (``bnconform.adapters.base``): OIHW kernels become Keras's
HWIO ``(kh, kw, C_in/groups, C_out)``; padding is ``"valid"`` or ``"same"`` only (Keras has no explicit
pairs); the batch-norm feature axis is passed as ``axis``. Layers are built with ``dtype=case.dtype``
(a Keras dtype policy: variables and computation in that dtype, apart from what a layer upcasts itself),
cached per configuration (``keras_backends.LayerCache``) and given the example's values before each call.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .base import Adapter, BNRun, Capabilities, DefaultRun, LayerState
from .keras_backends import BN_PARAMS, LayerCache
from .steps import batches, default_run

BN_INITIALIZERS = dict(  # BatchNormalization's defaults
    gamma_initializer="ones", beta_initializer="zeros", moving_mean_initializer="zeros", moving_variance_initializer="ones"
)
POOL_LAYERS = {"max": "MaxPooling2D", "avg": "AveragePooling2D", "global_avg": "GlobalAveragePooling2D"}

#: The channels_first layers whose acceptance depends on the machine's kernels (TensorFlow's CPU
#: kernels take NCHW in float32 and bfloat16 only), probed once per dtype by running a tiny layer:
#: (op, pooling kind or None) -> (what, layer factory (keras module, dtype), input shape). Keras 3
#: transposes channels_first pooling itself, so its tensorflow backend probes Conv2D only.
CHANNELS_FIRST_PROBES = {
    ("conv2d", None): (
        "a channels_first Conv2D",
        lambda k, dt: k.layers.Conv2D(1, 1, data_format="channels_first", dtype=dt),
        (1, 1, 2, 2),
    ),
    ("pool2d", "max"): (
        "a channels_first MaxPooling2D",
        lambda k, dt: k.layers.MaxPooling2D(1, data_format="channels_first", dtype=dt),
        (1, 1, 2, 2),
    ),
    ("pool2d", "avg"): (
        "a channels_first AveragePooling2D",
        lambda k, dt: k.layers.AveragePooling2D(1, data_format="channels_first", dtype=dt),
        (1, 1, 2, 2),
    ),
}


def oihw_to_hwio(w: np.ndarray) -> np.ndarray:
    """Reference kernels are (C_out, C_in/groups, kh, kw); Keras kernels are (kh, kw, C_in/groups, C_out)."""
    return np.transpose(np.asarray(w, np.float64), (2, 3, 1, 0))


def exact_dtype(dtype: str) -> str:
    """The dtype in which a case's values cross from NumPy to the framework without rounding."""
    return "float64" if dtype == "float64" else "float32"


def outside_keras(case, caps: Capabilities) -> str | None:
    """Why Keras (3 or 2) cannot express ``case`` at all, or None (for cases replayed from other targets)."""
    if case.op == "conv2d":
        if not (isinstance(case.padding, str) and case.padding in caps.conv_paddings):
            return f"Conv2D offers padding 'valid' or 'same' only, not {case.padding!r}"
        if case.stride != (1, 1) and case.dilation != (1, 1) and not caps.conv_dilated_strided:
            return "Conv2D refuses strides > 1 together with dilation_rate > 1"
    elif case.op == "pool2d":
        if case.kind not in caps.pool_kinds:
            return f"Keras has no {case.kind} pooling layer"
        if case.kind == "global_avg":
            return None
        if case.ceil_mode:
            return "Keras pooling has no ceil_mode"
        if not (isinstance(case.padding, str) and case.padding in caps.pool_paddings):
            return f"Keras pooling offers padding 'valid' or 'same' only, not {case.padding!r}"
        if case.count_include_pad:
            return "Keras average pooling never counts padding"
    elif case.op == "batch_norm" and case.momentum is None:
        return "Keras BatchNormalization has no cumulative moving average (momentum=None)"
    return None


def framework_message(error: Exception) -> str:
    """The framework's own sentence from an op error (TensorFlow wraps it in layer and op context)."""
    text = " ".join(str(error).split())
    if "}}" in text:
        text = text.split("}}", 1)[1]
    text = text.split("[Op:", 1)[0]
    for marker in ("\x1b[0m", "\x1b[1m"):
        text = text.replace(marker, "")
    return text.strip()[:300]


def default_call(layer, t, training: bool | None) -> tuple:
    """A default Keras batch-norm layer's one call, ``training`` True/False or None (no flag): y and
    the moving statistics after it (``bnconform.adapters.steps.default_run``; also the user-layer adapter's)."""
    y = layer(t) if training is None else layer(t, training=training)
    return y, layer.moving_mean, layer.moving_variance


def keras_numpy(keras, t) -> np.ndarray:
    """A Keras 3 tensor or variable read back as float64. bfloat16 is cast to float32 on the
    framework's side first: exact (bfloat16 is float32 with a shorter significand), and a path every
    release has, where Keras 3.0.4 on torch reads a tensor through ``Tensor.numpy()``, which has no
    bfloat16 ("Got unsupported ScalarType BFloat16")."""
    if keras.backend.standardize_dtype(t.dtype) == "bfloat16":
        t = keras.ops.cast(t, "float32")
    return np.asarray(keras.ops.convert_to_numpy(t)).astype(np.float64)


def built(layer, shape):
    """``layer``, built for ``shape`` if it is not yet. A layer without weights (pooling) is built
    on construction in later Keras 3 releases; Keras 3.0 builds it on its first ``__call__`` only, and
    its ``stateless_call`` (the JAX runner's) refuses an unbuilt layer ("To call stateless_call,
    MaxPooling2D must be built"). Its ``build`` records nothing about the shape: one layer serves
    every input shape, as the cache key assumes."""
    if not getattr(layer, "built", False):
        layer.build(tuple(shape))
    return layer


def bn_options(case) -> dict:
    """BatchNormalization's keywords for the options the case turns off (``center``, ``scale``);
    ``trainable=False`` is set on the built layer."""
    return {name: False for name in ("center", "scale") if not getattr(case, name)}


def present(layer) -> list[str]:
    """The names of :data:`BN_PARAMS` the layer holds (``scale=False``: no gamma, ``center=False``: no beta)."""
    return [n for n in BN_PARAMS if getattr(layer, n, None) is not None]


def _check_op(case, op: str) -> None:
    if case.op != op:
        raise ValueError(f"case: expected a {op} case, got {case.op!r}")


class KerasLayersAdapter(Adapter):
    """Batch norm, convolution and pooling through ``<keras>.layers``. Subclasses provide ``keras()``
    (the module, made current), ``_tensor``/``_numpy``/``_dtype_of`` and call ``_setup(runner)``."""

    bn_flag_reasons = {
        "affine": "Keras turns gamma and beta off apart: drawn as scale and center",
        "track_running_stats": "Keras BatchNormalization always keeps moving statistics (no such option)",
    }

    def _setup(self, runner) -> None:
        self._cache = LayerCache()
        self._runner = runner
        self._probes: dict = {}

    # -- hooks ----------------------------------------------------------------------------------
    def keras(self):
        raise NotImplementedError

    def _tensor(self, keras, a, dtype: str):
        raise NotImplementedError

    def _numpy(self, keras, t) -> np.ndarray:
        raise NotImplementedError

    def _dtype_of(self, keras, variable) -> str:
        raise NotImplementedError

    def _bn_layer(self, keras, axis: int, dtype: str, **options):
        """A BatchNormalization layer; ``options``: constructor arguments beyond the defaults (``center``/
        ``scale`` turned off, ``bn_options``; ``synchronized=True``)."""
        return keras.layers.BatchNormalization(axis=axis, dtype=dtype, **options,
                                               **self._initializers(**BN_INITIALIZERS))

    def _initializers(self, **initializers):
        """Initializer arguments for a layer whose weights are assigned before every call, as given
        (Keras's names); a subclass may make the same values more cheaply."""
        return initializers

    def _scope(self, dtype: str):
        """A context every call in ``dtype`` runs in (JAX needs one for float64)."""
        return contextlib.nullcontext()

    def _channels_first_probes(self) -> dict:
        """The entries of :data:`CHANNELS_FIRST_PROBES` this framework's kernels decide (default: none)."""
        return {}

    def _refusal(self, case) -> str | None:
        """The framework's reason for refusing a case the capabilities admit: a channels_first layer
        whose probe in ``case.dtype`` failed."""
        if case.op not in ("conv2d", "pool2d") or case.data_format != "channels_first":
            return None
        probe = self._channels_first_probes().get((case.op, case.kind if case.op == "pool2d" else None))
        return None if probe is None else self._probe(*probe, case.dtype)

    # -- batch normalization --------------------------------------------------------------------
    def _bn_args(self, keras, case, inputs, training: bool, grads: bool, **flags):
        """The cached layer and the runner's arguments for a case (call inside ``_scope``); ``flags``:
        the layer's constructor arguments beyond the defaults (``synchronized=True``)."""
        _check_op(case, "batch_norm")
        self._refuse(case)
        dt = case.dtype
        options = {**bn_options(case), **flags}

        def build():
            layer = self._bn_layer(keras, case.axis, dt, **options)
            layer.build(case.shape)
            if not case.trainable:
                layer.trainable = False  # frozen, as a fine-tuning user sets it after building
            return layer

        key = ("bn", case.shape, case.axis, dt, *sorted(options.items()), case.trainable)
        entry = self._cache.get(keras, key, build)
        values = dict(zip(BN_PARAMS, (inputs.gamma, inputs.beta, inputs.moving_mean, inputs.moving_var)))
        names = entry.remember("names", present)  # without scale or center: no gamma or beta
        dtypes = entry.remember("dtypes", lambda layer: [self._dtype_of(keras, getattr(layer, n)) for n in names])
        params = {name: self._tensor(keras, values[name], d) for name, d in zip(names, dtypes)}
        xs = [self._tensor(keras, x, dt) for x in batches(inputs, training)]
        dy = self._tensor(keras, inputs.dy, dt) if grads else None
        kw = dict(training=training, grads=grads, eps=float(case.eps), momentum=float(case.momentum))
        return entry, params, xs, dy, kw

    def bn(self, case, inputs, *, training: bool, grads: bool = False, **flags) -> BNRun:
        keras = self.keras()
        with self._scope(case.dtype):
            entry, params, xs, dy, kw = self._bn_args(keras, case, inputs, training, grads, **flags)
            out = self._runner.bn(entry, params, xs, dy, **kw)
            return BNRun(*(None if t is None else self._numpy(keras, t) for t in out))

    def bn_synchronized(self, case, inputs, *, training: bool, grads: bool = False) -> BNRun:
        """``bn`` with ``BatchNormalization(synchronized=True)``: on one replica (the default replica
        context, outside any distribution strategy) its moments go through the cross-replica path."""
        return self.bn(case, inputs, training=training, grads=grads, synchronized=True)

    def synchronized_refusal(self) -> str | None:
        return None  # offered where the capabilities say so (Keras 3: the tensorflow backend only)

    def _mask_tensor(self, keras, mask: np.ndarray):
        """A boolean mask as the layer takes it (default: ``keras.ops``)."""
        return keras.ops.convert_to_tensor(np.asarray(mask, bool))

    def bn_masked(self, case, inputs, *, training: bool) -> BNRun:
        """The cached layer holding the case's values, every call with ``mask=`` the case's mask
        (Keras's ``call(x, training, mask)``: the shape of x without its last axis, sizes kept or 1)."""
        if inputs.mask is None:
            raise ValueError("inputs: bn_masked needs a mask (a case with case.mask)")
        keras = self.keras()
        with self._scope(case.dtype):
            entry, params, xs, _, kw = self._bn_args(keras, case, inputs, training, False)
            mask = self._mask_tensor(keras, inputs.mask)
            out = self._runner.bn_masked(entry, params, xs, mask, training=training, eps=kw["eps"],
                                         momentum=kw["momentum"])
            return BNRun(*(self._numpy(keras, t) for t in out))

    def bn_sequence(self, case, inputs, calls) -> list[BNRun]:
        """The cached layer holding the case's values, called once per batch as ``calls`` says."""
        keras = self.keras()
        with self._scope(case.dtype):
            entry, params, xs, _, kw = self._bn_args(keras, case, inputs, True, False)
            out = self._runner.bn_sequence(entry, params, xs, calls, eps=kw["eps"], momentum=kw["momentum"],
                                           read=lambda t: self._numpy(keras, t))
        return [BNRun(*run) for run in out]

    def bn_default(self, x: np.ndarray, *, training: bool | None) -> DefaultRun:
        keras = self.keras()
        layer = keras.layers.BatchNormalization()
        layer.build(np.shape(x))
        n = lambda v: self._numpy(keras, v)  # noqa: E731
        initial = LayerState(n(layer.gamma), n(layer.beta), n(layer.moving_mean), n(layer.moving_variance))
        t = self._tensor(keras, x, "float32")
        return default_run(initial, lambda: default_call(layer, t, training), n)

    # -- convolution and pooling ----------------------------------------------------------------
    def _conv_args(self, keras, case, inputs):
        """The cached Conv2D layer, its weights and the input (call inside ``_scope``)."""
        _check_op(case, "conv2d")
        self._refuse(case)

        def build():
            layer = keras.layers.Conv2D(
                filters=case.c_out,
                kernel_size=case.kernel,
                strides=case.stride,
                padding=case.padding,
                data_format=case.data_format,
                dilation_rate=case.dilation,
                groups=case.groups,
                use_bias=case.bias,
                # assigned before every call: no random draws to run
                **self._initializers(kernel_initializer="zeros", bias_initializer="zeros"),
                dtype=case.dtype,
            )
            layer.build(case.x_shape)
            return layer

        key = ("conv", case.x_shape, case.data_format, case.c_out, case.kernel, case.stride, case.dilation,
               case.padding, case.groups, case.bias, case.dtype)
        entry = self._cache.get(keras, key, build)
        weights = {"kernel": self._tensor(keras, oihw_to_hwio(inputs.w), case.dtype)}
        if case.bias:
            weights["bias"] = self._tensor(keras, inputs.b, case.dtype)
        return entry, weights, self._tensor(keras, inputs.x, case.dtype)

    def _pool_args(self, keras, case, x):
        """The cached pooling layer, no weights, and the input (call inside ``_scope``)."""
        _check_op(case, "pool2d")
        self._refuse(case)
        key = ("pool", case.kind, case.window, case.stride, case.padding, case.data_format, case.dtype)
        entry = self._cache.get(keras, key, lambda: built(self._pool_layer(keras, case), np.shape(x)))
        return entry, {}, self._tensor(keras, x, case.dtype)

    def conv2d(self, case, inputs) -> np.ndarray:
        keras = self.keras()
        with self._scope(case.dtype):
            return self._numpy(keras, self._runner.call(*self._conv_args(keras, case, inputs)))

    def pool2d(self, case, inputs: np.ndarray) -> np.ndarray:
        keras = self.keras()
        with self._scope(case.dtype):
            return self._numpy(keras, self._runner.call(*self._pool_args(keras, case, inputs)))

    # -- benchmark ------------------------------------------------------------------------------
    def bare_call(self, prop: str, mode: str, case, inputs):
        """The runner's calls on the cached layer, its values assigned (or, on JAX, its arguments
        on the device) beforehand: for batch norm every step of the case, the last one with its
        gradients for ``bn_backward``."""
        keras = self.keras()
        scope = self._scope
        with scope(case.dtype):
            if case.op == "batch_norm":
                entry, params, xs, dy, kw = self._bn_args(keras, case, inputs, mode == "train", prop == "bn_backward")
                call = self._runner.bare_bn(entry, params, xs, dy, **kw)
            elif case.op == "conv2d":
                call = self._runner.bare_call(*self._conv_args(keras, case, inputs))
            else:
                call = self._runner.bare_call(*self._pool_args(keras, case, inputs))

        def run():
            with scope(case.dtype):
                return call()

        return run

    @staticmethod
    def _pool_layer(keras, case):
        cls = getattr(keras.layers, POOL_LAYERS[case.kind])
        fmt = dict(data_format=case.data_format, dtype=case.dtype)
        if case.kind == "global_avg":
            return cls(**fmt)
        return cls(pool_size=case.window, strides=case.stride, padding=case.padding, **fmt)

    # -- what is offered ------------------------------------------------------------------------
    def unsupported(self, case) -> str | None:
        return outside_keras(case, self.capabilities) or self._refusal(case)

    def _refuse(self, case) -> None:
        reason = self.unsupported(case)
        if reason:
            raise ValueError(f"case: {reason}")

    def probes(self) -> dict[str, str | None]:
        """Every channels_first probe in every dtype the op offers, run now (they are cached), named
        like the records' ops: ``"conv2d channels_first float16"``, ``"max_pool2d channels_first float64"``."""
        found = {}
        for (op, kind), probe in self._channels_first_probes().items():
            if kind is not None and kind not in self.capabilities.pool_kinds:
                continue
            if "channels_first" not in (self.capabilities.conv_data_formats if op == "conv2d"
                                        else self.capabilities.pool_data_formats):
                continue
            name = op if kind is None else f"{kind}_{op}"
            for dtype in self.capabilities.op_dtypes(op):
                found[f"{name} channels_first {dtype}"] = self._probe(*probe, dtype)
        return found

    def _probe(self, what: str, layer_factory, shape, dtype: str) -> str | None:
        """Run a tiny layer, ``layer_factory(keras, dtype)``, once per (what, dtype): the framework's
        message if it refuses, else None."""
        key = (what, dtype)
        if key not in self._probes:
            keras = self.keras()
            try:
                layer_factory(keras, dtype)(self._tensor(keras, np.ones(shape), dtype))
                self._probes[key] = None
            except Exception as e:  # noqa: BLE001 - the framework's refusal is the reason
                self._probes[key] = f"{self.framework} {self.version} refuses {what} in {dtype}: {framework_message(e)}"
        return self._probes[key]
