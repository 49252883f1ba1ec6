"""PyTorch trainer of the two-blob networks: ``nn.Sequential`` of ``Linear``, ``BatchNorm1d``, ``ReLU``.

Dense kernels are stored ``(out, in)``: the canonical ``(in, out)`` kernels are transposed. BN gets
``momentum = 1 - momentum`` (PyTorch's momentum weighs the batch) and keeps its running variance
unbiased (batch 300: 0.3% above the biased one Keras and Flax keep; batch 150: 0.7%).
Deterministic algorithms are enforced, one thread.
"""

from __future__ import annotations

import numpy as np

from bnconform.cifar.archs import shapes

from ..models import INPUT_SHAPE
from .base import Trainer as TrainerBase
from .base import batches


def build_model(spec, momentum_keras: float, epsilon: float):
    from torch import nn

    modules = []
    for layer, shape in zip(spec, shapes(spec, INPUT_SHAPE)):
        if layer.kind == "dense":
            modules.append(nn.Linear(shape[0], layer.units, bias=layer.bias))
        elif layer.kind == "bn":
            modules.append(nn.BatchNorm1d(shape[0], eps=epsilon, momentum=1.0 - momentum_keras))
        if layer.relu:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def set_weights(model, weights) -> None:
    import torch
    from torch import nn

    params = iter(weights)
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.BatchNorm1d):
                p = next(params)
                module.weight.copy_(torch.from_numpy(p["gamma"]))
                module.bias.copy_(torch.from_numpy(p["beta"]))
                module.running_mean.copy_(torch.from_numpy(p["mean"]))
                module.running_var.copy_(torch.from_numpy(p["var"]))
            elif isinstance(module, nn.Linear):
                p = next(params)
                module.weight.copy_(torch.from_numpy(np.ascontiguousarray(p["kernel"].T)))
                if "bias" in p:
                    module.bias.copy_(torch.from_numpy(p["bias"]))


class Trainer(TrainerBase):
    framework = "torch"
    backend = None

    def __init__(self, spec, weights, *, momentum, epsilon, adam, threads, backend=None):
        import torch

        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only settable before the first parallel work of the process
            pass
        self.model = build_model(spec, momentum, epsilon)
        set_weights(self.model, weights)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=adam["learning_rate"],
                                          betas=(adam["beta1"], adam["beta2"]), eps=adam["epsilon"])

    def fit(self, x, y, orders, batch_size, on_epoch=None):
        import torch
        import torch.nn.functional as F

        self.model.train()
        for epoch, order in enumerate(orders):
            loss_sum, correct = 0.0, 0
            for start, stop in batches(len(order), batch_size):
                idx = order[start:stop]
                xb, yb = torch.from_numpy(x[idx]), torch.from_numpy(y[idx].astype(np.float32))
                z = self.model(xb)[:, 0]
                loss = F.binary_cross_entropy_with_logits(z, yb)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                loss_sum += loss.item() * len(idx)
                correct += int(((z.detach() > 0).to(torch.float32) == yb).sum())
            if on_epoch is not None:
                on_epoch(epoch, {"loss": loss_sum / len(order), "accuracy": correct / len(order)})

    def logits(self, x):
        import torch

        self.model.eval()
        with torch.no_grad():
            out = self.model(torch.from_numpy(x))[:, 0].numpy()
        self.model.train()
        return out

    def _bns(self):
        from torch import nn

        return [m for m in self.model if isinstance(m, nn.BatchNorm1d)]

    def moving_statistics(self):
        return [(m.running_mean.numpy().copy(), m.running_var.numpy().copy()) for m in self._bns()]

    def recalibrate(self, x):
        import torch

        saved = []
        for m in self._bns():  # momentum None: the cumulative average, here of one batch
            saved.append(m.momentum)
            m.reset_running_stats()
            m.momentum = None
        self.model.train()
        with torch.no_grad():
            self.model(torch.from_numpy(x))
        for m, momentum in zip(self._bns(), saved):
            m.momentum = momentum

    def versions(self):
        from bnconform.cifar.backends.versions import package_versions

        return package_versions(["torch"])
