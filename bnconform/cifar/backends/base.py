"""The CIFAR-10 trainer interface every backend implements, on the shared trainer contract
(:class:`bnconform.training.trainer.Trainer`), and the evaluation every framework shares.

Arrays cross the interface as NumPy: images float32 NHWC in [0, 1], labels integer class indices.
The training loop (:mod:`bnconform.cifar.train`) owns the data order and hands each trainer the permutation of
the epoch; trainers visit the images in exactly that order (:func:`bnconform.training.trainer.batches`).
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from bnconform.training.trainer import OnBatch, batches
from bnconform.training.trainer import Trainer as SharedTrainer

EVAL_BATCH = 500


class Trainer(SharedTrainer):
    """A course CNN in one framework, with its optimizer (:class:`bnconform.training.trainer.Trainer`)."""

    @abstractmethod
    def train_epoch(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, batch_size: int,
                    on_batch: OnBatch | None = None) -> dict:
        """One epoch in ``order``; returns training-mode ``{"loss", "accuracy"}`` averaged over images."""

    @abstractmethod
    def evaluate(self, x: np.ndarray, y: np.ndarray) -> dict:
        """Inference mode (moving BN statistics, no dropout): ``{"loss", "accuracy"}``."""

    @abstractmethod
    def logits(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Forward pass to the logits (``training``: batch statistics, and dropout if the model has it)."""


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-example cross-entropy in float64 (used to report evaluation loss uniformly)."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y]


def evaluate_logits(logits_fn, x: np.ndarray, y: np.ndarray) -> dict:
    """Inference loss and accuracy from a batched logits function."""
    loss_sum, correct = 0.0, 0
    for start, stop in batches(len(y), EVAL_BATCH):
        z = logits_fn(x[start:stop])
        loss_sum += float(softmax_cross_entropy(z, y[start:stop]).sum())
        correct += int((z.argmax(axis=1) == y[start:stop]).sum())
    return {"loss": loss_sum / len(y), "accuracy": correct / len(y)}
