"""PyTorch: ``nn.BatchNorm1d/2d/3d`` (and ``F.batch_norm``), ``F.conv2d``, ``F.max_pool2d``,
``F.avg_pool2d``, ``F.lp_pool2d``, ``F.adaptive_avg_pool2d``.

Conventions (PyTorch documentation of ``torch.nn.BatchNorm2d``): momentum 0.1 weighs the *new* batch,
``running = (1 - momentum) * running + momentum * batch``; the running variance is unbiased
(m / (m - 1)); ``momentum=None`` is the cumulative average; eps 1e-5; features on axis 1; a module
starts in training mode. Channels-last data runs as an NCHW tensor in ``channels_last`` memory format,
which takes PyTorch's channels-last kernels.

Ranks: (N, C) and sequences (N, C, L) run through ``BatchNorm1d``, images (N, C, H, W) through
``BatchNorm2d``, volumes (N, C, D, H, W) through ``BatchNorm3d``; ``F.batch_norm`` takes any rank.
Options: ``affine=False`` (no weight and bias: gamma and beta on or off together) and
``track_running_stats=False`` (no running buffers; batch statistics in train() and eval() mode) are
drawn; ``F.batch_norm`` offers ``affine`` only (``weight=None, bias=None``: without running tensors it
has no evaluation mode of its own). PyTorch has no ``trainable=False`` for a batch-norm layer
(``requires_grad_(False)`` freezes the parameters, not the statistics).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from .base import Adapter, BNRun, Capabilities, Conventions, DefaultRun, LayerState
from .steps import batches, default_run, run_steps

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
    call_without_flag="train",  # a module starts in training mode; train()/eval() set it
    notes="running = (1 - momentum) * running + momentum * batch; unbiased running variance; "
    "modules start in training mode",
)

CAPABILITIES = Capabilities(
    ops=("batch_norm", "conv2d", "pool2d"),
    dtypes=tuple(DTYPES),
    bn_modes=("train", "inference"),
    bn_backward=True,
    bn_ranks=(2, 3, 4, 5),
    bn_axes=(1,),  # features on axis 1 only
    bn_min_values_per_feature=2,
    bn_flags=("affine", "track_running_stats"),
    conv_data_formats=("channels_last", "channels_first"),
    conv_paddings=("valid", "same", "explicit"),
    conv_dilated_strided=True,  # but not padding="same" with stride > 1
    conv_groups=True,
    conv_dilation=True,
    conv_bias=True,
    pool_kinds=("max", "avg", "lp", "global_avg"),
    pool_data_formats=("channels_last", "channels_first"),
    pool_paddings=("valid", "explicit"),
    pool_symmetric_padding=True,
    pool_lp_paddings=("valid",),
    pool_ceil_mode=True,
    pool_count_include_pad=(True, False),
    pool_lp_p=(1.0, 2.0, 3.0),
    bn_synchronized=True,  # torch.nn.SyncBatchNorm (refused on CPU: synchronized_refusal)
)


REUSABLE = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)  # modules ``TorchAdapter._module`` may reuse
#: the module class by input rank
MODULES = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}


def flag_kwargs(case) -> dict:
    """The constructor keywords of the options the case turns off (none for a default layer, so a
    user's class without these keywords still takes every default case)."""
    out = {}
    if not case.scale:
        out["affine"] = False
    if not case.track_running_stats:
        out["track_running_stats"] = False
    return out


def flag_refusal(case, *, functional: bool) -> str | None:
    """Why PyTorch cannot express the case's options, or None."""
    if case.op != "batch_norm":
        return None
    if case.scale != case.center:
        return "PyTorch's affine turns gamma and beta on or off together (scale == center)"
    if not case.trainable:
        return "PyTorch has no trainable=False for batch norm (requires_grad_(False) does not freeze the statistics)"
    if functional and not case.track_running_stats:
        return "F.batch_norm has no track_running_stats option (running tensors of None work in training only)"
    return None


# NumPy holds every dtype but bfloat16, which crosses as float32 (exactly: the values are representable)
_NUMPY = {"float16": np.float16, "bfloat16": np.float32, "float32": np.float32, "float64": np.float64}


def tensor(a: np.ndarray, dtype: str, requires_grad: bool = False) -> torch.Tensor:
    # a copy (astype): from_numpy shares memory, and F.batch_norm updates running stats in place
    t = torch.from_numpy(np.asarray(a, np.float64).astype(_NUMPY[dtype]))
    if dtype == "bfloat16":
        t = t.to(torch.bfloat16)
    device = torch.get_default_device()  # the adapter's device inside ``adapter.placed()`` (bnconform.adapters.device)
    if t.device != device:
        t = t.to(device)
    return t.requires_grad_(True) if requires_grad else t


def numpy(t: torch.Tensor) -> np.ndarray:
    # a copy (astype): numpy() shares memory with the tensor (a reused module's buffers)
    t = t.detach().cpu()  # back to the host from the adapter's device
    if t.dtype == torch.bfloat16:
        t = t.to(torch.float32)
    return t.numpy().astype(np.float64)


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
        if functional:  # F.batch_norm takes a float momentum only, and training=False by default; no synchronized form
            caps = dataclasses.replace(CAPABILITIES, ops=("batch_norm",), bn_flags=("affine",), bn_synchronized=False)
            conventions = dataclasses.replace(CONVENTIONS, momentum_none=False, call_without_flag="inference")
        super().__init__(
            name=name,
            framework="torch",
            version=torch.__version__,
            conventions=conventions,
            capabilities=caps,
            description="F.batch_norm" if functional else "nn.BatchNorm1d/2d/3d, F.conv2d, F.*_pool2d",
        )
        self.functional = functional
        self._modules: dict = {}
        self._refusal_cache: dict = {}
        torch.use_deterministic_algorithms(True)

    # -- batch normalization ------------------------------------------------------------------
    def make_bn(self, rank: int, num_features: int, **kwargs) -> torch.nn.Module:
        """A batch-norm module for ``rank``-D inputs; ``kwargs`` are eps and momentum and the options
        turned off (``flag_kwargs``), or none."""
        return MODULES[rank](num_features, **kwargs)

    def unsupported(self, case) -> str | None:
        return flag_refusal(case, functional=self.functional)

    @property
    def bn_flag_reasons(self) -> dict:
        reasons = {"scale": "PyTorch turns gamma and beta on or off together: drawn as affine",
                   "center": "PyTorch turns gamma and beta on or off together: drawn as affine",
                   "trainable": "PyTorch has no trainable=False for batch norm (requires_grad_(False) does not "
                                "freeze the statistics)"}
        if self.functional:
            reasons["track_running_stats"] = ("F.batch_norm has no track_running_stats option (running tensors "
                                              "of None work in training only)")
        return reasons

    def _module(self, case, inputs) -> tuple[torch.nn.Module, tuple]:
        """A module constructed with the case's eps and momentum, holding the case's values, and its
        tensors (weight, bias, running mean, running variance).

        PyTorch's own modules are reused per (rank, features, dtype), since constructing one costs
        more than calling it: ``_BatchNorm.forward`` reads ``eps`` and ``momentum`` on every call, and
        the module's state (parameters, buffers including ``num_batches_tracked``, gradients) is all
        set here, so the reused module is the one a user would construct for the case
        (``tests/adapters/test_torch_adapter.py`` compares the two). Any other class (a user's
        ``--bn-impl``) may read its arguments at construction only, so it is constructed every time.
        """
        flags = flag_kwargs(case)
        key = (len(case.shape), case.n_features, case.dtype, tuple(sorted(flags)))
        entry = self._modules.get(key)
        if entry is None:
            bn = self.make_bn(*key[:2], eps=case.eps, momentum=case.momentum, **flags).to(DTYPES[case.dtype])
            entry = bn, (bn.weight, bn.bias, bn.running_mean, bn.running_var)
            if type(bn) in REUSABLE:
                self._modules[key] = entry
        else:  # the case's hyper-parameters, and the state a new module starts with
            bn = entry[0]
            if (bn.eps, bn.momentum) != (case.eps, case.momentum):  # (a Module's setattr is slow)
                bn.eps, bn.momentum = case.eps, case.momentum
            if bn.num_batches_tracked is not None:
                bn.num_batches_tracked.zero_()  # momentum=None averages over the batches seen
            for p in entry[1][:2]:
                if p is not None:
                    p.grad = None
        values = (inputs.gamma, inputs.beta, inputs.moving_mean, inputs.moving_var)
        with torch.no_grad():  # copy_ casts (exactly: the values are representable in the dtype)
            for t, v in zip(entry[1], values):
                if t is not None:  # affine=False: no weight and bias; track_running_stats=False: no buffers
                    t.copy_(torch.from_numpy(np.asarray(v, np.float64)))
        return entry

    def _layer(self, case, inputs, training: bool, grads: bool):
        """The batch norm a case runs, as a function of x, and its tensors (weight, bias, running
        mean, running variance): the module, or ``F.batch_norm`` with tensors of its own."""
        if not self.functional:
            bn, tensors = self._module(case, inputs)
            if bn.training != training:
                bn.train(training)
            return bn, tensors
        dt = case.dtype
        rm, rv = tensor(inputs.moving_mean, dt), tensor(inputs.moving_var, dt)
        w, b = (tensor(inputs.gamma, dt, grads), tensor(inputs.beta, dt, grads)) if case.scale else (None, None)
        kw = dict(training=training, momentum=case.momentum, eps=case.eps)
        return (lambda x: F.batch_norm(x, rm, rv, w, b, **kw)), (w, b, rm, rv)

    @staticmethod
    def _calls(layer, xs, dy):
        """The case's calls (``bnconform.adapters.steps``): the training steps without autograd, then the last
        (``y.backward(dy)`` if dy is given)."""

        def train_step(state, x):
            with torch.no_grad():
                layer(x)

        def last(state, x):
            y = layer(x)
            if dy is not None:
                y.backward(dy)
            return y

        return run_steps(xs, train_step, last)

    def _bn_args(self, case, inputs, training: bool, grads: bool):
        layer, tensors = self._layer(case, inputs, training, grads)
        xs = batches(inputs, training)
        xs = [tensor(x, case.dtype) for x in xs[:-1]] + [tensor(xs[-1], case.dtype, requires_grad=grads)]
        dy = tensor(inputs.dy, case.dtype) if grads else None
        return layer, tensors, xs, dy

    def bn(self, case, inputs, *, training: bool, grads: bool = False) -> BNRun:
        layer, (w, b, rm, rv), xs, dy = self._bn_args(case, inputs, training, grads)
        y = self._calls(layer, xs, dy)
        read = lambda t: None if t is None else numpy(t)  # noqa: E731 - an option's absent tensor
        out = dict(y=numpy(y), moving_mean=read(rm), moving_var=read(rv))
        if grads:
            out.update(dx=numpy(xs[-1].grad), dgamma=read(None if w is None else w.grad),
                       dbeta=read(None if b is None else b.grad))
        return BNRun(**out)

    def bn_synchronized(self, case, inputs, *, training: bool, grads: bool = False) -> BNRun:
        """``bn`` through ``torch.nn.SyncBatchNorm`` under a single-process gloo group
        (``bnconform.adapters.torch_sync``), built for the case and holding its values."""
        from . import torch_sync

        layer = torch_sync.sync_bn(case.n_features, eps=case.eps, momentum=case.momentum, dtype=DTYPES[case.dtype])
        layer.to(tensor(np.zeros(1), "float32").device)
        tensors = (layer.weight, layer.bias, layer.running_mean, layer.running_var)
        with torch.no_grad():
            for t, v in zip(tensors, (inputs.gamma, inputs.beta, inputs.moving_mean, inputs.moving_var)):
                t.copy_(torch.from_numpy(np.asarray(v, np.float64)))
        layer.train(training)
        xs = batches(inputs, training)
        xs = [tensor(x, case.dtype) for x in xs[:-1]] + [tensor(xs[-1], case.dtype, requires_grad=grads)]
        y = self._calls(layer, xs, tensor(inputs.dy, case.dtype) if grads else None)
        w, b, rm, rv = tensors
        out = dict(y=numpy(y), moving_mean=numpy(rm), moving_var=numpy(rv))
        if grads:
            out.update(dx=numpy(xs[-1].grad), dgamma=numpy(w.grad), dbeta=numpy(b.grad))
        return BNRun(**out)

    def synchronized_refusal(self) -> str | None:
        """SyncBatchNorm tried once on this adapter's device (``torch_sync.refusal``: a CPU tensor is refused)."""
        if "sync" not in self._refusal_cache:
            from . import torch_sync

            with self.placed():
                self._refusal_cache["sync"] = torch_sync.refusal(lambda a: tensor(a, "float32"))
        return self._refusal_cache["sync"]

    def bn_sequence(self, case, inputs, calls) -> list[BNRun]:
        """The module switched with ``train()``/``eval()`` before each call (a module has no per-call
        flag); ``F.batch_norm`` with ``training=True``/``False``, or without the argument (its default,
        False) for ``"no-flag"``, on the same running-statistics tensors throughout."""
        xs = [tensor(x, case.dtype) for x in inputs.xs]
        if self.functional:
            dt = case.dtype
            rm, rv = tensor(inputs.moving_mean, dt), tensor(inputs.moving_var, dt)
            w, b = (tensor(inputs.gamma, dt), tensor(inputs.beta, dt)) if case.scale else (None, None)
            flags = [{} if call == "no-flag" else {"training": call == "train"} for call in calls]
            layers = [lambda x, f=f: F.batch_norm(x, rm, rv, w, b, momentum=case.momentum, eps=case.eps, **f)
                      for f in flags]
        else:
            if "no-flag" in calls:
                raise ValueError("case: a module has no per-call training flag; train() and eval() set its mode")
            bn, (_, _, rm, rv) = self._module(case, inputs)

            def mode(training):
                def call(x):
                    bn.train(training)
                    return bn(x)

                return call

            layers = [mode(call == "train") for call in calls]
        runs = []
        with torch.no_grad():
            for layer, x in zip(layers, xs):
                runs.append(BNRun(numpy(layer(x)), numpy(rm), numpy(rv)))
        return runs

    def bn_default(self, x: np.ndarray, *, training: bool | None) -> DefaultRun:
        c = x.shape[1]
        if self.functional:
            rm, rv = torch.zeros(c), torch.ones(c)
            initial = LayerState(np.ones(c), np.zeros(c), numpy(rm), numpy(rv))
            return default_run(initial, lambda: (F.batch_norm(tensor(x, "float32"), rm, rv, training=bool(training)),
                                                 rm, rv), numpy)
        bn = self.make_bn(x.ndim, c)
        initial = LayerState(numpy(bn.weight), numpy(bn.bias), numpy(bn.running_mean), numpy(bn.running_var))
        if training is not None:
            bn.train(training)

        def call():
            with torch.no_grad():
                return bn(tensor(x, "float32")), bn.running_mean, bn.running_var

        return default_run(initial, call, numpy)

    # -- convolution and pooling ----------------------------------------------------------------
    @staticmethod
    def _op(case, inputs):
        """The case's F.conv2d or pooling call, a function of an NCHW tensor that returns y in the
        case's layout, and that tensor: x as (channels-last) NCHW, for convolution zero-padded here
        where the padding is asymmetric (F.conv2d pads both sides equally)."""
        fmt = case.data_format
        if case.op == "conv2d":
            x = to_nchw(tensor(inputs.x, case.dtype), fmt)
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
            kw = dict(stride=case.stride, padding=padding, dilation=case.dilation, groups=case.groups)
            return (lambda t: from_nchw(F.conv2d(t, w, b, **kw), fmt)), x
        x = to_nchw(tensor(inputs, case.dtype), fmt)
        pad = (0, 0) if case.padding == "valid" else (case.padding[0][0], case.padding[1][0])
        window, stride, ceil = case.window, case.stride, case.ceil_mode
        if case.kind == "max":
            return (lambda t: from_nchw(F.max_pool2d(t, window, stride, pad, ceil_mode=ceil), fmt)), x
        if case.kind == "avg":
            include = case.count_include_pad
            return (lambda t: from_nchw(
                F.avg_pool2d(t, window, stride, pad, ceil_mode=ceil, count_include_pad=include), fmt
            )), x
        if case.kind == "lp":
            return (lambda t: from_nchw(F.lp_pool2d(t, case.p, window, stride, ceil_mode=ceil), fmt)), x
        if case.kind == "global_avg":
            return (lambda t: F.adaptive_avg_pool2d(t, 1).flatten(1)), x
        raise ValueError(f"kind: unknown pooling kind {case.kind!r}")

    def conv2d(self, case, inputs) -> np.ndarray:
        fn, x = self._op(case, inputs)
        with torch.no_grad():
            return numpy(fn(x))

    def pool2d(self, case, inputs: np.ndarray) -> np.ndarray:
        fn, x = self._op(case, inputs)
        with torch.no_grad():
            return numpy(fn(x))

    # -- benchmark ------------------------------------------------------------------------------
    def bare_call(self, prop: str, mode: str, case, inputs):
        """The adapter's calls on tensors made beforehand, the module holding the case's values:
        for batch norm every batch of the case, the last with its backward for ``bn_backward``.
        Returns y (for convolution and pooling a view in the case's layout, as the adapter reads it)."""
        if case.op == "batch_norm":
            layer, _, xs, dy = self._bn_args(case, inputs, mode == "train", prop == "bn_backward")
            return lambda: self._calls(layer, xs, dy)
        fn, x = self._op(case, inputs)

        def call():
            with torch.no_grad():
                return fn(x)

        return call


def load() -> TorchAdapter:
    return TorchAdapter()


def load_functional() -> TorchAdapter:
    return TorchAdapter(functional=True)
