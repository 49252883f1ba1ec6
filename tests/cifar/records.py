"""Synthetic run records for the gate, baseline and report tests."""

from __future__ import annotations

import copy

BASE = {
    "target": "torch", "framework": "torch", "version": "2.13.0+cpu", "backend": None,
    "versions": {"torch": "2.13.0+cpu"}, "arch": "A", "bn": True, "broken_bn": False,
    "profile": "quick", "seed": 0, "batch_size": 100,
    "data": {"source": "jpeg", "sha256": "ab" * 32, "n_train": 10000, "n_val": 2000,
             "n_test": 10000},
    "epochs": [{"epoch": e, "loss": 2.0 - 0.2 * e, "accuracy": 0.3 + 0.05 * e,
                "val_loss": 2.1 - 0.2 * e, "val_accuracy": 0.28 + 0.05 * e,
                "images_per_s": 900.0 + e, "seconds": 11.0} for e in range(1, 7)],
    "test_accuracy": 0.6, "test_loss": 1.1, "images_per_s": 903.0, "wall_seconds": 80.0,
    "machine": {"threads": 1}, "baseline": None, "threshold": None, "margin": None,
    "verdict": None,
}


def record(**changes) -> dict:
    out = copy.deepcopy(BASE)
    for key, value in changes.items():
        out[key] = value
    return out
