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

    def _run(self, case, inputs, training: bool, grads: bool) -> BNRun:
        layer = self.cls(axis=case.axis, momentum=case.momentum, epsilon=case.eps)
        layer.build(case.shape)
        for name, value in zip(BN_PARAMS, (inputs.gamma, inputs.beta, inputs.moving_mean, inputs.moving_var)):
            getattr(layer, name).assign(self._t(value))
        xs = inputs.xs if training else inputs.xs[:1]
        for x in xs[:-1]:
            layer(self._t(x), training=True)
        out = (None, None, None)
        if grads:
            y, *out = self._grads(layer, self._t(xs[-1]), self._t(inputs.dy), training)
        else:
            y = layer(self._t(xs[-1]), training=training)
        return BNRun(self._n(y), self._n(layer.moving_mean), self._n(layer.moving_variance),
                     *(None if g is None else self._n(g) for g in out))

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
