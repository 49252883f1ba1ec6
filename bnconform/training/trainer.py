"""The trainer contract of both experiments, and the epoch loop their step-by-step trainers share.

A trainer is one network of a layer spec (:mod:`bnconform.training.spec`) in one framework, with its
optimizer, built from canonical NumPy weights. Arrays cross the interface as NumPy. What every
trainer has is :class:`Trainer`: its framework (and Keras' backend), its inference logits and the
package versions of its record. Each experiment extends it with how it trains and what it reports
(:class:`bnconform.cifar.backends.base.Trainer`: one epoch at a time, softmax cross-entropy;
:class:`bnconform.blobs.backends.base.Trainer`: every epoch in one call, binary cross-entropy, the
moving statistics); each framework's machinery is a family
(:class:`bnconform.training.torch_net.TorchTrainer`, ``keras_net.KerasTrainer``,
``flax_net.FlaxTrainer``) that an experiment's trainer of that framework inherits.

The training loop owns the data order: a trainer visits the items of an epoch in exactly the given
permutation, in batches of ``batch_size`` with a smaller last batch when the count does not divide
(as Keras' ``fit`` does): :func:`batches`, :func:`run_epoch`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

OnBatch = Callable[[int, float], None]  # (items in the batch, batch loss)


def batches(n: int, batch_size: int):
    """``(start, stop)`` of each batch over ``n`` items."""
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def run_epoch(order: np.ndarray, batch_size: int, step: Callable[[np.ndarray], tuple[float, int]],
              on_batch: OnBatch | None = None) -> dict:
    """One epoch of ``step(indices) -> (batch loss, correct predictions)`` over ``order`` in batches;
    the training-mode ``{"loss", "accuracy"}`` averaged over the items (each batch's mean loss
    weighted by its size, as Keras' ``fit`` reports it)."""
    loss_sum, correct = 0.0, 0
    for start, stop in batches(len(order), batch_size):
        idx = order[start:stop]
        batch_loss, ok = step(idx)
        loss_sum += batch_loss * len(idx)
        correct += ok
        if on_batch is not None:
            on_batch(len(idx), batch_loss)
    return {"loss": loss_sum / len(order), "accuracy": correct / len(order)}


class Trainer(ABC):
    """A network of one spec in one framework, with its optimizer."""

    framework: str
    backend: str | None  # Keras' backend; None for the other frameworks

    @abstractmethod
    def logits(self, x: np.ndarray) -> np.ndarray:
        """Inference mode (moving BN statistics, no dropout): the network's output on ``x``."""

    @abstractmethod
    def versions(self) -> dict:
        """``{package: version}`` of everything the result depends on."""

    @property
    def version(self) -> str:
        return self.versions()[self.framework]
