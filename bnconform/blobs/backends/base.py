"""The trainer interface of the two-blob networks, on the shared trainer contract
(:class:`bnconform.training.trainer.Trainer`), and the evaluation every framework shares.

Arrays cross the interface as NumPy: points float32 ``(n, 2)``, labels int64 0/1, logits float
``(n,)``. The training loop (:mod:`bnconform.blobs.train`) owns the data order: ``fit`` visits the points of
each epoch in the given permutation, in batches of ``batch_size`` with a smaller last batch
(750 = 300 + 300 + 150), and calls ``on_epoch(epoch, {"loss", "accuracy"})`` after every epoch
with the training-mode loss and accuracy averaged over the epoch's points (what Keras' ``fit``
reports as ``loss``). Inference metrics are computed here, in float64, from each framework's logits.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import numpy as np

from bnconform.training.trainer import Trainer as SharedTrainer

OnEpoch = Callable[[int, dict], None]


class Trainer(SharedTrainer):
    """A two-blob network in one framework, with its optimizer (:class:`bnconform.training.trainer.Trainer`)."""

    @abstractmethod
    def fit(self, x: np.ndarray, y: np.ndarray, orders: list, batch_size: int,
            on_epoch: OnEpoch | None = None) -> None:
        """Train one epoch per permutation in ``orders``."""

    @abstractmethod
    def logits(self, x: np.ndarray) -> np.ndarray:
        """Inference mode (moving BN statistics): the logit of class 1 per point."""

    @abstractmethod
    def moving_statistics(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(moving mean, moving variance)`` of every BN layer, in order."""

    @abstractmethod
    def recalibrate(self, x: np.ndarray) -> None:
        """Set every BN layer's moving statistics to the statistics of ``x`` under the current
        weights (one training-mode pass over all of ``x`` with momentum 0; PyTorch keeps its
        unbiased variance). Changes no weight."""


def binary_cross_entropy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-point cross-entropy of ``sigmoid(logits)`` in float64, computed stably:
    ``max(z, 0) - y z + log(1 + exp(-|z|))``."""
    z = np.asarray(logits, dtype=np.float64)
    return np.maximum(z, 0.0) - np.asarray(y, dtype=np.float64) * z + np.log1p(np.exp(-np.abs(z)))


def evaluate(trainer: Trainer, x: np.ndarray, y: np.ndarray) -> dict:
    """Inference loss and accuracy (class 1 where the logit is positive) on ``x``, in one batch."""
    z = trainer.logits(x)
    return {"loss": float(binary_cross_entropy(z, y).mean()),
            "accuracy": float(((z > 0).astype(np.int64) == y).mean())}
