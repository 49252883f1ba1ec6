"""PyTorch trainer: an ``nn.Sequential`` in PyTorch's own NCHW layout.

The shared weights are converted with :func:`bnconform.cifar.weights.to_channels_first` (OIHW kernels, the
first dense kernel's rows permuted to the NCHW flatten order). BN: ``momentum = 1 - 0.99`` (PyTorch's
momentum weights the batch), ``eps = 1e-3``. Deterministic algorithms are enforced (on CUDA also
``cudnn.benchmark = False``; see :mod:`bnconform.cifar.device`).

Device: the model is built inside ``placement.enter()`` (the ``torch.device`` context: parameters,
buffers and, lazily, Adam's moments are made there); every batch is moved to that device
(:meth:`Trainer.batch`); losses and logits come back to the host.
"""

from __future__ import annotations

import numpy as np

from .. import settings
from ..device import CPU_PLACEMENT
from ..archs import shapes
from ..order import framework_seed
from ..weights import to_channels_first
from .base import Trainer as TrainerBase
from .base import batches, evaluate_logits, summarize


def build_model(spec, momentum_keras: float):
    """The ``nn.Sequential`` of ``spec``; BN momentum given in the Keras convention."""
    from torch import nn

    modules = []
    for layer, shape in zip(spec, shapes(spec)):
        if layer.kind == "bn":
            cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            modules.append(cls(shape[-1], eps=settings.BN_EPSILON, momentum=1.0 - momentum_keras))
        elif layer.kind == "conv":
            modules.append(nn.Conv2d(shape[-1], layer.units, 3,
                                     padding=1 if layer.padding == "same" else 0))
        elif layer.kind == "pool":
            modules.append(nn.MaxPool2d(2))
        elif layer.kind == "flatten":
            modules.append(nn.Flatten())
        elif layer.kind == "dropout":
            modules.append(nn.Dropout(layer.rate))
        elif layer.kind == "dense":
            modules.append(nn.Linear(shape[0], layer.units))
        if layer.relu:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def set_weights(model, weights) -> None:
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
                module.bias.copy_(torch.from_numpy(p["bias"]))


def to_tensor(x: np.ndarray):
    """NHWC float32 NumPy -> contiguous NCHW tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


class Trainer(TrainerBase):
    framework = "torch"
    backend = None

    def __init__(self, spec, weights, *, seed, broken_bn, threads, backend=None,
                 permute_flatten=True, placement=None):
        import torch

        self.placement = placement or CPU_PLACEMENT
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False  # autotuning picks kernels by timing: not repeatable
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only settable before the first parallel work of the process
            pass
        torch.manual_seed(framework_seed(seed))
        with self.placement.enter():
            self.device = torch.get_default_device()
            self.model = build_model(spec, settings.bn_momentum(broken_bn))
            set_weights(self.model, to_channels_first(spec, weights, permute_flatten=permute_flatten))
            adam = settings.ADAM
            self.optimizer = torch.optim.Adam(
                self.model.parameters(), lr=adam["learning_rate"], betas=(adam["beta1"], adam["beta2"]),
                eps=adam["epsilon"])

    def batch(self, x: np.ndarray):
        """NHWC NumPy images as an NCHW tensor on the trainer's device."""
        return to_tensor(x).to(self.device)

    def train_epoch(self, x, y, order, batch_size, on_batch=None):
        import torch
        import torch.nn.functional as F

        self.model.train()
        loss_sum, correct = 0.0, 0
        with self.placement.enter():
            for start, stop in batches(len(order), batch_size):
                idx = order[start:stop]
                xb, yb = self.batch(x[idx]), torch.from_numpy(y[idx].astype(np.int64)).to(self.device)
                logits = self.model(xb)
                loss = F.cross_entropy(logits, yb)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                batch_loss = loss.item()
                loss_sum += batch_loss * len(idx)
                correct += int((logits.detach().argmax(1) == yb).sum())
                if on_batch is not None:
                    on_batch(len(idx), batch_loss)
        return summarize(loss_sum, correct, len(order))

    def logits(self, x, training=False):
        import torch

        self.model.train(training)
        with self.placement.enter(), torch.no_grad():
            out = self.model(self.batch(x)).cpu().numpy()
        self.model.train(True)
        return out

    def evaluate(self, x, y):
        return evaluate_logits(self.logits, x, y)

    def versions(self):
        from .versions import package_versions

        return package_versions(["torch"])
