"""The trainer interface every backend implements.

Arrays cross the interface as NumPy: images float32 NHWC in [0, 1], labels integer class indices.
The training loop (:mod:`bnconform.cifar.train`) owns the data order and hands each trainer the permutation of
the epoch; trainers visit the images in exactly that order, in batches of ``batch_size`` with a
smaller last batch when the count does not divide (as Keras' ``fit`` does).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

EVAL_BATCH = 500

OnBatch = Callable[[int, float], None]  # (images in the batch, batch loss)


def batches(n: int, batch_size: int):
    """``(start, stop)`` of each batch over ``n`` items."""
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


class Trainer(ABC):
    """A model of one architecture in one framework, with its optimizer."""

    framework: str
    backend: str | None

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

    @abstractmethod
    def versions(self) -> dict:
        """``{package: version}`` of everything the result depends on."""

    @property
    def version(self) -> str:
        return self.versions()[self.framework]


def summarize(loss_sum: float, correct: int, n: int) -> dict:
    return {"loss": loss_sum / n, "accuracy": correct / n}


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
    return summarize(loss_sum, correct, len(y))
