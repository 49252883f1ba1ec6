"""Training profiles: how much data and how many epochs.

- ``standard``: the first lecture's protocol, 5 epochs on all the data;
- ``full``: the second lecture's, 25 epochs;
- ``gpu``: the lectures' protocols in full, for an accelerator: model A with BN, 5 epochs (the first
  lecture), model B with and without BN, 25 epochs (the second), all the data, seeds 0, 1, 2 (the
  gate's minimum, so that ``baseline`` records them as they are); about an hour a run on one CPU core,
  minutes on a GPU, so ``run``/``baseline`` refuse it on the CPU (:data:`Profile.accelerator`);
- ``quick``: for CI, a fixed subset of 10,000 training images and few epochs, sized so that the
  moving statistics have forgotten their initial values (0.99^k < 1% after k steps: model A 600
  steps, model B 846) and the whole CIFAR part of CI fits in its time budget: model A with BN on
  every target, and model B (correct and with a broken BN) on ``broken_bn_targets``.

Each architecture keeps its own protocol: model A (batch 100) validates on the test images after
every epoch, as the first lecture did (``quick``: on a fixed subset of them, to save time); model B
(batch 32) holds out the last 10% of its training images (``validation_split=0.1``). The test accuracy
the gate uses is always measured on all 10,000 test images after the last epoch: a larger test set
lowers the spread between seeds, hence a tighter gate, and inference is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    epochs: int
    n_train: int | None  # None: all 50,000 (model B then trains on 45,000)
    n_val: int | None = None  # model A: test images validated on after each epoch (None: all)
    n_test: int | None = None  # test images the test accuracy is measured on (None: all 10,000; the gate's profiles)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    protocols: dict  # arch -> Protocol
    matrix: tuple = (("A", True), ("A", False), ("B", True), ("B", False))  # what `run` trains
    broken_bn_targets: tuple = ()  # where the tests also train model B with a broken BN
    seeds: tuple = (0,)  # what `run` trains when --seeds is not given
    accelerator: bool = False  # meant for a GPU: refused with --device cpu (too long there)

    def protocol(self, arch: str) -> Protocol:
        return self.protocols[arch]


VALIDATION_SPLIT = {"A": 0.0, "B": 0.1}

PROFILES = {
    "quick": Profile("quick", "CI: fixed subset, few epochs", {
        "A": Protocol(epochs=6, n_train=10_000, n_val=2_000),
        "B": Protocol(epochs=3, n_train=10_000),
    }, matrix=(("A", True),), broken_bn_targets=("keras-tensorflow",)),
    "standard": Profile("standard", "first lecture: 5 epochs, all data", {
        "A": Protocol(epochs=5, n_train=None),
        "B": Protocol(epochs=5, n_train=None),
    }),
    "full": Profile("full", "second lecture: 25 epochs, all data", {
        "A": Protocol(epochs=25, n_train=None),
        "B": Protocol(epochs=25, n_train=None),
    }),
    "gpu": Profile("gpu", "both lectures in full, 3 seeds, on an accelerator", {
        "A": Protocol(epochs=5, n_train=None),
        "B": Protocol(epochs=25, n_train=None),
    }, matrix=(("A", True), ("B", True), ("B", False)), seeds=(0, 1, 2), accelerator=True),
}


def get(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {name!r}")
    return PROFILES[name]
