"""A user's own Keras batch-norm layer (``--bn-impl keras:MODULE:NAME``), driven like
``keras.layers.BatchNormalization``: Keras's conventions, eager calls, gradients from the backend.

A user layer may keep its hyper-parameters under any attribute name, so it is built anew for every
example with that example's ``axis``, ``momentum`` and ``epsilon`` (no layer cache), then given the
example's gamma, beta and moving statistics through ``assign``. Keras runs on the backend it was
imported with (``KERAS_BACKEND``, default tensorflow); tensorflow and torch are supported (gradients
by ``tf.GradientTape`` or ``torch.autograd``), in float32, the dtype a layer gets by default.
"""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np

from .base import Adapter, BNRun, DefaultRun, LayerState
from .keras_adapter import CAPABILITIES, CONVENTIONS
from .keras_backends import BN_PARAMS, grads_tensorflow, grads_torch


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
            capabilities=dataclasses.replace(
                CAPABILITIES, ops=("batch_norm",), dtypes=("float32",), dtypes_by_op={}
            ),
            backend=backend,
            description=f"{cls.__module__}.{cls.__qualname__} (user class, Keras conventions)",
        )
        self.cls, self._keras = cls, keras
        self._grads = grads_tensorflow if backend == "tensorflow" else grads_torch

    def _t(self, a):
        return self._keras.ops.convert_to_tensor(np.asarray(a, np.float32), dtype="float32")

    def _n(self, t) -> np.ndarray:
        return np.asarray(self._keras.ops.convert_to_numpy(t), np.float64)

    def _layer(self, case, inputs):
        """A new layer built for ``case`` and holding its gamma, beta and moving statistics."""
        layer = self.cls(axis=case.axis, momentum=case.momentum, epsilon=case.eps)
        layer.build(case.shape)
        for name, value in zip(BN_PARAMS, (inputs.gamma, inputs.beta, inputs.moving_mean, inputs.moving_var)):
            getattr(layer, name).assign(self._t(value))
        return layer

    def _calls(self, layer, xs, dy, training: bool, grads: bool):
        """Every step of the case on framework tensors: the training calls before the last, then
        the last call (with its gradients when ``grads``); returns (y, dx, dgamma, dbeta)."""
        for x in xs[:-1]:
            layer(x, training=True)
        if grads:
            return tuple(self._grads(layer, xs[-1], dy, training))
        return layer(xs[-1], training=training), None, None, None

    def _run(self, case, inputs, training: bool, grads: bool) -> BNRun:
        layer = self._layer(case, inputs)
        xs = [self._t(x) for x in (inputs.xs if training else inputs.xs[:1])]
        y, *out = self._calls(layer, xs, self._t(inputs.dy), training, grads)
        return BNRun(self._n(y), self._n(layer.moving_mean), self._n(layer.moving_variance),
                     *(None if g is None else self._n(g) for g in out))

    def bare_call(self, prop: str, mode: str, case, inputs):
        """The user layer built once with the case's values, tensors converted beforehand; each
        call re-assigns the starting moving statistics (the steps update them) and runs the
        adapter's steps. The layer is rebuilt per example in ``_run``, so that building is adapter
        overhead here, as the layer cache's misses are for the Keras adapters."""
        training = mode == "train"
        layer = self._layer(case, inputs)
        xs = [self._t(x) for x in (inputs.xs if training else inputs.xs[:1])]
        dy = self._t(inputs.dy)
        start = [self._t(inputs.moving_mean), self._t(inputs.moving_var)]

        def call():
            layer.moving_mean.assign(start[0])
            layer.moving_variance.assign(start[1])
            return self._calls(layer, xs, dy, training, prop == "bn_backward")

        return call

    def bn_train(self, case, inputs, *, grads: bool = False) -> BNRun:
        return self._run(case, inputs, True, grads)

    def bn_inference(self, case, inputs, *, grads: bool = False) -> BNRun:
        return self._run(case, inputs, False, grads)

    def bn_default(self, x: np.ndarray, *, training: bool | None) -> DefaultRun:
        layer = self.cls()
        layer.build(np.shape(x))
        initial = LayerState(*(self._n(getattr(layer, name)) for name in BN_PARAMS))
        t = self._t(x)
        try:
            y = layer(t) if training is None else layer(t, training=training)
        except Exception as e:  # noqa: BLE001 - the probe records the refusal
            return DefaultRun(initial, None, None, None, f"{type(e).__name__}: {e}")
        return DefaultRun(initial, self._n(y), self._n(layer.moving_mean), self._n(layer.moving_variance))

    def unsupported(self, case) -> str | None:
        if case.op == "batch_norm" and case.momentum is None:
            return "Keras BatchNormalization has no cumulative moving average (momentum=None)"
        return None
