"""Training is deterministic: the same seed and versions give the same numbers, to the last digit.

Each target trains a tiny run of model A (BN) and of model B (BN and dropout, whose masks come from
the framework's seeded generator) in a fresh process, twice; every per-epoch loss and accuracy and
the test accuracy must be equal as floats, not merely close.
"""

from __future__ import annotations

import pytest

from bnconform.app.runner import run_many
from bnconform.cifar.worker import Job

from .conftest import selected_targets

#: one epoch on a few images; the test accuracy on 1,000 test images (evaluating all 10,000 took half
#: of each run), the numbers compared being the same however many
TINY = {"A": {"epochs": 1, "n_train": 1000, "n_val": 500, "n_test": 1000},
        "B": {"epochs": 1, "n_train": 700, "n_val": None, "n_test": 1000}}


def numbers(record: dict) -> list:
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    return [[e[k] for k in keys] for e in record["epochs"]] + [
        record["test_accuracy"], record["test_loss"]]


@pytest.fixture(scope="module")
def tiny_runs(pytestconfig, cifar_data, cifar_path):
    """Every selected target's tiny runs, twice each, two worker processes at a time."""
    targets = selected_targets(pytestconfig)
    batches = [[Job(target=t, arch=arch, profile="custom", seed=0, cifar_path=cifar_path,
                    progress=False, **TINY[arch]) for arch in ("A", "B")]
               for t in targets for _ in range(2)]  # one process per (target, repetition)
    results, errors = run_many(batches, parallel=2, timeout=900)
    by_target: dict = {}
    for pair in results:
        by_target.setdefault(pair[0]["target"], []).extend(pair)
    return by_target, errors


def test_same_seed_same_result(cifar_target, tiny_runs):
    by_target, errors = tiny_runs
    records = by_target.get(cifar_target, [])
    assert len(records) == 4, [e for e in errors if cifar_target in e] or records
    a1, a2, b1, b2 = sorted(records, key=lambda r: r["arch"])
    assert numbers(a1) == numbers(a2), f"{cifar_target} model A differs between two runs"
    assert numbers(b1) == numbers(b2), f"{cifar_target} model B differs between two runs"
    assert a1["data"]["n_train"] == 1000 and b1["data"]["n_train"] == 630
    assert a1["data"]["n_test"] == b1["data"]["n_test"] == 1000
