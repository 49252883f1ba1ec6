"""PyTorch: ``nn.BatchNorm1d/2d`` (and ``F.batch_norm``), ``F.conv2d``, ``F.max_pool2d``,
``F.avg_pool2d``, ``F.lp_pool2d``, ``F.adaptive_avg_pool2d``.

Conventions (PyTorch documentation of ``torch.nn.BatchNorm2d``): momentum 0.1 weighs the *new* batch,
``running = (1 - momentum) * running + momentum * batch``; the running variance is unbiased
(m / (m - 1)); ``momentum=None`` is the cumulative average; eps 1e-5; features on axis 1; a module
starts in training mode. Channels-last data runs as an NCHW tensor in ``channels_last`` memory format,
which takes PyTorch's channels-last kernels.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from .base import Adapter, BNRun, Capabilities, Conventions, DefaultRun, LayerState

DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}

CONVENTIONS = Conventions(
    momentum="torch",
    running_var="unbiased",
    default_eps=1e-5,
    default_momentum=0.1,
    default_axis=1,
    momentum_none=True,
    notes="running = (1 - momentum) * running + momentum * batch; unbiased running variance; "
    "modules start in training mode",
)

CAPABILITIES = Capabilities(
    dtypes=tuple(DTYPES),
    bn_any_axis=False,
    bn_axes=(1,),
    bn_min_values_per_feature=2,
    conv_paddings=("valid", "same", "explicit"),
    conv_same_strided=False,
    pool_paddings=("valid", "explicit"),
    pool_symmetric_padding=True,
    pool_lp_paddings=("valid",),
    pool_ceil_mode=True,
    pool_count_include_pad=(True, False),
    pool_lp_p=(1.0, 2.0, 3.0),
)


def tensor(a: np.ndarray, dtype: str, requires_grad: bool = False) -> torch.Tensor:
    # a copy: from_numpy would share memory, and F.batch_norm updates running stats in place
    return torch.tensor(np.asarray(a, np.float64), dtype=DTYPES[dtype], requires_grad=requires_grad)


def numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy()


def to_nchw(x: torch.Tensor, data_format: str) -> torch.Tensor:
    """NHWC data as a channels-last NCHW tensor (a view, no copy)."""
    return x if data_format == "channels_first" else x.permute(0, 3, 1, 2)


def from_nchw(y: torch.Tensor, data_format: str) -> torch.Tensor:
    return y if data_format == "channels_first" else y.permute(0, 2, 3, 1)


class TorchAdapter(Adapter):
    """``nn.BatchNorm1d/2d`` for batch norm (``functional=True``: ``F.batch_norm``)."""

    def __init__(self, *, functional: bool = False):
        name = "torch-functional" if functional else "torch"
        caps, conventions = CAPABILITIES, CONVENTIONS
        if functional:  # F.batch_norm takes a float momentum only
            caps = dataclasses.replace(CAPABILITIES, ops=("batch_norm",))
            conventions = dataclasses.replace(CONVENTIONS, momentum_none=False)
        super().__init__(
            name=name,
            framework="torch",
            version=torch.__version__,
            conventions=conventions,
            capabilities=caps,
            description="F.batch_norm" if functional else "nn.BatchNorm1d/2d, F.conv2d, F.*_pool2d",
        )
        self.functional = functional
        torch.use_deterministic_algorithms(True)

    # -- batch normalization ------------------------------------------------------------------
    def make_bn(self, rank: int, num_features: int, **kwargs) -> torch.nn.Module:
        """A batch-norm module for ``rank``-D inputs; ``kwargs`` are eps and momentum, or none."""
        cls = torch.nn.BatchNorm1d if rank == 2 else torch.nn.BatchNorm2d
        return cls(num_features, **kwargs)

    def _module(self, case, inputs) -> torch.nn.Module:
        bn = self.make_bn(len(case.shape), case.n_features, eps=case.eps, momentum=case.momentum)
        bn = bn.to(DTYPES[case.dtype])
        with torch.no_grad():
            bn.weight.copy_(tensor(inputs.gamma, case.dtype))
            bn.bias.copy_(tensor(inputs.beta, case.dtype))
            bn.running_mean.copy_(tensor(inputs.moving_mean, case.dtype))
            bn.running_var.copy_(tensor(inputs.moving_var, case.dtype))
        return bn

    def _run(self, case, inputs, training: bool, grads: bool) -> BNRun:
        if self.functional:
            return self._run_functional(case, inputs, training, grads)
        bn = self._module(case, inputs)
        bn.train(training)
        xs = inputs.xs if training else inputs.xs[:1]
        with torch.no_grad():
            for x in xs[:-1]:
                bn(tensor(x, case.dtype))
        x = tensor(xs[-1], case.dtype, requires_grad=grads)
        y = bn(x)
        out = dict(y=numpy(y), moving_mean=numpy(bn.running_mean), moving_var=numpy(bn.running_var))
        if grads:
            y.backward(tensor(inputs.dy, case.dtype))
            out.update(dx=numpy(x.grad), dgamma=numpy(bn.weight.grad), dbeta=numpy(bn.bias.grad))
        return BNRun(**out)

    def _run_functional(self, case, inputs, training: bool, grads: bool) -> BNRun:
        dt = case.dtype
        rm, rv = tensor(inputs.moving_mean, dt), tensor(inputs.moving_var, dt)
        w, b = tensor(inputs.gamma, dt, grads), tensor(inputs.beta, dt, grads)
        xs = inputs.xs if training else inputs.xs[:1]
        kw = dict(training=training, momentum=case.momentum, eps=case.eps)
        with torch.no_grad():
            for x in xs[:-1]:
                F.batch_norm(tensor(x, dt), rm, rv, w, b, **kw)
        x = tensor(xs[-1], dt, requires_grad=grads)
        y = F.batch_norm(x, rm, rv, w, b, **kw)
        out = dict(y=numpy(y), moving_mean=numpy(rm), moving_var=numpy(rv))
        if grads:
            y.backward(tensor(inputs.dy, dt))
            out.update(dx=numpy(x.grad), dgamma=numpy(w.grad), dbeta=numpy(b.grad))
        return BNRun(**out)

    def bn_train(self, case, inputs, *, grads: bool = False) -> BNRun:
        return self._run(case, inputs, True, grads)

    def bn_inference(self, case, inputs, *, grads: bool = False) -> BNRun:
        return self._run(case, inputs, False, grads)

    def bn_default(self, x: np.ndarray, *, training: bool | None) -> DefaultRun:
        c = x.shape[1]
        if self.functional:
            rm, rv = torch.zeros(c), torch.ones(c)
            initial = LayerState(np.ones(c), np.zeros(c), numpy(rm), numpy(rv))
            try:
                y = F.batch_norm(tensor(x, "float32"), rm, rv, training=bool(training))
            except Exception as e:  # noqa: BLE001 - the probe records the framework's refusal
                return DefaultRun(initial, None, None, None, f"{type(e).__name__}: {e}")
            return DefaultRun(initial, numpy(y), numpy(rm), numpy(rv))
        bn = self.make_bn(x.ndim, c)
        initial = LayerState(numpy(bn.weight), numpy(bn.bias), numpy(bn.running_mean), numpy(bn.running_var))
        if training is not None:
            bn.train(training)
        try:
            with torch.no_grad():
                y = bn(tensor(x, "float32"))
        except Exception as e:  # noqa: BLE001
            return DefaultRun(initial, None, None, None, f"{type(e).__name__}: {e}")
        return DefaultRun(initial, numpy(y), numpy(bn.running_mean), numpy(bn.running_var))

    # -- convolution and pooling ----------------------------------------------------------------
    def conv2d(self, case, inputs) -> np.ndarray:
        x = to_nchw(tensor(inputs.x, case.dtype), case.data_format)
        w = tensor(inputs.w, case.dtype)
        b = None if inputs.b is None else tensor(inputs.b, case.dtype)
        padding = case.padding
        if not isinstance(padding, str):
            (top, bottom), (left, right) = padding
            if top == bottom and left == right:
                padding = (top, left)
            else:
                x = F.pad(x, (left, right, top, bottom))
                padding = 0
        with torch.no_grad():
            y = F.conv2d(x, w, b, stride=case.stride, padding=padding, dilation=case.dilation, groups=case.groups)
        return numpy(from_nchw(y, case.data_format))

    def pool2d(self, case, x: np.ndarray) -> np.ndarray:
        t = to_nchw(tensor(x, case.dtype), case.data_format)
        pad = (0, 0) if case.padding == "valid" else (case.padding[0][0], case.padding[1][0])
        with torch.no_grad():
            if case.kind == "max":
                y = F.max_pool2d(t, case.window, case.stride, pad, ceil_mode=case.ceil_mode)
            elif case.kind == "avg":
                y = F.avg_pool2d(
                    t, case.window, case.stride, pad, ceil_mode=case.ceil_mode,
                    count_include_pad=case.count_include_pad,
                )
            elif case.kind == "lp":
                y = F.lp_pool2d(t, case.p, case.window, case.stride, ceil_mode=case.ceil_mode)
            elif case.kind == "global_avg":
                return numpy(F.adaptive_avg_pool2d(t, 1).flatten(1))
            else:
                raise ValueError(f"kind: unknown pooling kind {case.kind!r}")
        return numpy(from_nchw(y, case.data_format))


    def bare_call(self, prop: str, mode: str, case, inputs):
        dt = case.dtype
        if case.op == "batch_norm":
            bn = self._module(case, inputs).train(mode == "train")
            x = tensor(inputs.xs[-1], dt, requires_grad=prop == "bn_backward")
            if prop == "bn_backward":
                dy = tensor(inputs.dy, dt)
                return lambda: bn(x).backward(dy)
            return lambda: bn(x)
        if case.op == "conv2d":
            x = to_nchw(tensor(inputs.x, dt), case.data_format)
            w, b = tensor(inputs.w, dt), None if inputs.b is None else tensor(inputs.b, dt)
            if isinstance(case.padding, str):
                pad = case.padding
            else:
                (top, bottom), (left, right) = case.padding
                x, pad = F.pad(x, (left, right, top, bottom)), 0
            return lambda: F.conv2d(x, w, b, stride=case.stride, padding=pad, dilation=case.dilation, groups=case.groups)
        t = to_nchw(tensor(inputs, dt), case.data_format)
        pad = (0, 0) if case.padding == "valid" else (case.padding[0][0], case.padding[1][0])
        calls = {
            "max": lambda: F.max_pool2d(t, case.window, case.stride, pad, ceil_mode=case.ceil_mode),
            "avg": lambda: F.avg_pool2d(t, case.window, case.stride, pad, ceil_mode=case.ceil_mode,
                                        count_include_pad=case.count_include_pad),
            "lp": lambda: F.lp_pool2d(t, case.p, case.window, case.stride, ceil_mode=case.ceil_mode),
            "global_avg": lambda: F.adaptive_avg_pool2d(t, 1),
        }
        return calls[case.kind]


def load() -> TorchAdapter:
    return TorchAdapter()


def load_functional() -> TorchAdapter:
    return TorchAdapter(functional=True)
