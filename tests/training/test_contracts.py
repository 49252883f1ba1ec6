"""The contracts both experiments share (:mod:`bnconform.training`): the epoch loop's batching and
averages. Nothing here imports a framework: these run in milliseconds."""

from __future__ import annotations

import numpy as np

from bnconform.training.trainer import run_epoch


def test_an_epoch_visits_the_order_in_batches_and_weights_each_batch_by_its_size():
    seen, reported = [], []

    def step(idx):  # batch loss: the first index; correct: the even indices
        seen.append(idx.tolist())
        return float(idx[0]), int((idx % 2 == 0).sum())

    order = np.array([4, 0, 3, 1, 2])
    fit = run_epoch(order, 2, step, on_batch=lambda n, loss: reported.append((n, loss)))
    assert seen == [[4, 0], [3, 1], [2]]
    assert reported == [(2, 4.0), (2, 3.0), (1, 2.0)]
    # (4 * 2 + 3 * 2 + 2 * 1) / 5 and the evens 4, 0, 2 of 5
    assert fit == {"loss": 16 / 5, "accuracy": 3 / 5}
