"""PyTorch trainer of the two-blob networks: ``nn.Sequential`` of ``Linear``, ``BatchNorm1d``, ``ReLU``.

The network, its Adam and the optimizer step are :mod:`bnconform.training.torch_net`'s. Dense
kernels are stored ``(out, in)``: the canonical ``(in, out)`` kernels are transposed. BN gets
``momentum = 1 - momentum`` (PyTorch's momentum weighs the batch) and keeps its running variance
unbiased (batch 300: 0.3% above the biased one Keras and Flax keep; batch 150: 0.7%).
Deterministic algorithms are enforced, one thread.
"""

from __future__ import annotations

import numpy as np

from bnconform.training.torch_net import TorchTrainer
from bnconform.training.trainer import run_epoch

from ..models import INPUT_SHAPE
from .base import Trainer as TrainerBase


def torch_layout(weights) -> list[dict]:
    """Canonical weights with every dense kernel transposed to PyTorch's ``(out, in)``."""
    return [{**p, "kernel": np.ascontiguousarray(p["kernel"].T)} if "kernel" in p else p for p in weights]


class Trainer(TorchTrainer, TrainerBase):
    def __init__(self, spec, weights, *, momentum, epsilon, adam, threads, backend=None):
        self._build(spec, torch_layout(weights), momentum=momentum, epsilon=epsilon, adam=adam,
                    threads=threads, input_shape=INPUT_SHAPE)

    def fit(self, x, y, orders, batch_size, on_epoch=None):
        import torch
        import torch.nn.functional as F

        def step(idx):
            xb, yb = torch.from_numpy(x[idx]), torch.from_numpy(y[idx].astype(np.float32))
            loss, out = self.step(xb, lambda out: F.binary_cross_entropy_with_logits(out[:, 0], yb))
            return loss, int(((out[:, 0] > 0).to(torch.float32) == yb).sum())

        self.model.train()
        for epoch, order in enumerate(orders):
            fit = run_epoch(order, batch_size, step)
            if on_epoch is not None:
                on_epoch(epoch, fit)

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
