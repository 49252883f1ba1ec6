"""PyTorch trainer of the course CNNs: an ``nn.Sequential`` in PyTorch's own NCHW layout.

The network, its Adam and the optimizer step are :mod:`bnconform.training.torch_net`'s. The shared
weights are converted with :func:`bnconform.cifar.weights.to_channels_first` (OIHW kernels, the
first dense kernel's rows permuted to the NCHW flatten order). BN: ``momentum = 1 - 0.99``,
``eps = 1e-3`` (:mod:`bnconform.cifar.settings`). On CUDA see :mod:`bnconform.cifar.device`.

Device: the model is built inside ``placement.enter()``; every batch is moved to that device
(:meth:`Trainer.batch`); losses and logits come back to the host.
"""

from __future__ import annotations

import numpy as np

from bnconform.training.torch_net import TorchTrainer
from bnconform.training.trainer import run_epoch

from .. import settings
from ..archs import INPUT_SHAPE
from ..order import framework_seed
from ..weights import to_channels_first
from .base import Trainer as TrainerBase
from .base import evaluate_logits


def to_tensor(x: np.ndarray):
    """NHWC float32 NumPy -> contiguous NCHW tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


class Trainer(TorchTrainer, TrainerBase):
    def __init__(self, spec, weights, *, seed, broken_bn, threads, backend=None,
                 permute_flatten=True, placement=None):
        self._build(spec, to_channels_first(spec, weights, permute_flatten=permute_flatten),
                    momentum=settings.bn_momentum(broken_bn), epsilon=settings.BN_EPSILON,
                    adam=settings.ADAM, threads=threads, input_shape=INPUT_SHAPE,
                    seed=framework_seed(seed), placement=placement)

    def batch(self, x: np.ndarray):
        """NHWC NumPy images as an NCHW tensor on the trainer's device."""
        return to_tensor(x).to(self.device)

    def train_epoch(self, x, y, order, batch_size, on_batch=None):
        import torch
        import torch.nn.functional as F

        def step(idx):
            xb, yb = self.batch(x[idx]), torch.from_numpy(y[idx].astype(np.int64)).to(self.device)
            loss, logits = self.step(xb, lambda out: F.cross_entropy(out, yb))
            return loss, int((logits.argmax(1) == yb).sum())

        self.model.train()
        with self.placement.enter():
            return run_epoch(order, batch_size, step, on_batch)

    def logits(self, x, training=False):
        import torch

        self.model.train(training)
        with self.placement.enter(), torch.no_grad():
            out = self.model(self.batch(x)).cpu().numpy()
        self.model.train(True)
        return out

    def evaluate(self, x, y):
        return evaluate_logits(self.logits, x, y)
