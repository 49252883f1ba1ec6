"""PyTorch: the ``nn.Sequential`` of a layer spec, its weights, Adam, and one optimizer step.

PyTorch's own layout is NCHW with ``(out, in)`` dense kernels: :func:`set_weights` takes weights in
that layout (an experiment converts its canonical weights: :func:`bnconform.cifar.weights.to_channels_first`).
BN momentum: given in the Keras convention (the weight of the old statistic), PyTorch's means the
weight of the batch: ``1 - momentum``. PyTorch updates its running variance with the unbiased batch
variance. Deterministic algorithms are enforced (on CUDA also ``cudnn.benchmark = False``).

Device: the network and its optimizer are made inside ``placement.enter()`` (the ``torch.device``
context: parameters, buffers and, lazily, Adam's moments are made there).
"""

from __future__ import annotations

from bnconform.adapters.device import CPU

from .spec import shapes
from .trainer import Trainer
from .versions import package_versions


def deterministic(threads: int) -> None:
    """Deterministic kernels and ``threads`` intra-op threads (one inter-op thread when still settable)."""
    import torch

    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False  # autotuning picks kernels by timing: not repeatable
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first parallel work of the process
        pass


def build_model(spec, momentum: float, epsilon: float, input_shape):
    """The ``nn.Sequential`` of ``spec`` for inputs of ``input_shape`` (NHWC or features); BN
    momentum given in the Keras convention."""
    from torch import nn

    modules = []
    for layer, shape in zip(spec, shapes(spec, input_shape)):
        if layer.kind == "bn":
            cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            modules.append(cls(shape[-1], eps=epsilon, momentum=1.0 - momentum))
        elif layer.kind == "conv":
            modules.append(nn.Conv2d(shape[-1], layer.units, 3, padding=1 if layer.padding == "same" else 0,
                                     bias=layer.bias))
        elif layer.kind == "pool":
            modules.append(nn.MaxPool2d(2))
        elif layer.kind == "flatten":
            modules.append(nn.Flatten())
        elif layer.kind == "dropout":
            modules.append(nn.Dropout(layer.rate))
        elif layer.kind == "dense":
            modules.append(nn.Linear(shape[0], layer.units, bias=layer.bias))
        if layer.relu:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def set_weights(model, weights) -> None:
    """Copy ``weights`` (PyTorch layout, one dict per BN, conv or dense layer) into ``model``."""
    import torch
    from torch import nn

    params = iter(weights)
    with torch.no_grad():
        for module in model:
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                p = next(params)
                module.weight.copy_(torch.from_numpy(p["gamma"]))
                module.bias.copy_(torch.from_numpy(p["beta"]))
                module.running_mean.copy_(torch.from_numpy(p["mean"]))
                module.running_var.copy_(torch.from_numpy(p["var"]))
            elif isinstance(module, (nn.Conv2d, nn.Linear)):
                p = next(params)
                module.weight.copy_(torch.from_numpy(p["kernel"]))
                if "bias" in p:
                    module.bias.copy_(torch.from_numpy(p["bias"]))


class TorchTrainer(Trainer):
    """The PyTorch family: ``self.model``, ``self.optimizer`` (Adam), ``self.device``, ``self.placement``."""

    framework = "torch"
    backend = None

    def _build(self, spec, weights, *, momentum: float, epsilon: float, adam: dict, threads: int,
               input_shape, seed: int | None = None, placement=None) -> None:
        """Deterministic set-up, then (on ``placement``) the network with ``weights`` (PyTorch
        layout) and its Adam; ``seed`` seeds PyTorch's generator (dropout masks)."""
        import torch

        self.placement = placement or CPU
        deterministic(threads)
        if seed is not None:
            torch.manual_seed(seed)
        with self.placement.enter():
            self.device = torch.get_default_device()
            self.model = build_model(spec, momentum, epsilon, input_shape)
            set_weights(self.model, weights)
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=adam["learning_rate"],
                                              betas=(adam["beta1"], adam["beta2"]), eps=adam["epsilon"])

    def step(self, xb, loss_of) -> tuple[float, object]:
        """One Adam step on the batch ``xb``: ``loss_of(output)`` is the batch's mean loss; returns
        it as a float and the (detached) output."""
        out = self.model(xb)
        loss = loss_of(out)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item(), out.detach()

    def versions(self) -> dict:
        return package_versions(["torch"])
