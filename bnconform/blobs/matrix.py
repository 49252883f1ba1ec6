"""Which runs a two-blob check trains: the CI matrix, or a product from the command line.

A run is ``(model, bn, seed, broken_bn, twin)``. A matrix is a list of per-target batches of
:class:`bnconform.blobs.worker.Job` (one worker process per target: the framework starts once), the slowest
target first so that two workers at a time finish together.

The CI matrix (:data:`CI_RUNS`), on every target: seed 0 of both networks with and without BN
(BN runs with their twin, for the moving-statistics check), the planted bug on the shallow network
(with its twin: that is what catches it), and seeds 1 and 2 of the shallow network. The deep
network costs 10 to 40 times the shallow one per run (300 steps of 11 layers; Keras' per-layer
overhead on every step), so its other seeds and its planted bug are measured for docs/blobs.md
(``python -m bnconform.blobs run --seeds 0 1 2 3 4 --broken-models deep shallow``), not in CI.
"""

from __future__ import annotations

from itertools import product

from bnconform.training.targets import TARGETS

from .worker import Job

MODELS = ("deep", "shallow")
#: Relative cost of a target's runs (measured: docs/blobs.md), slowest first.
COST = {"keras-tensorflow": 5, "keras-torch": 4, "keras-jax": 3, "flax-linen": 2, "torch": 1}


def runs(models=MODELS, bns=(True, False), seeds=(0,), broken_models=(), broken_seeds=(),
         twin: bool = True) -> list[tuple]:
    """The product of the arguments as runs ``(model, bn, seed, broken_bn, twin)``; the planted
    bug (always with its twin) on ``broken_models`` x ``broken_seeds``."""
    out = [(model, bn, seed, False, twin and bn) for seed, model, bn in product(seeds, models, bns)]
    out += [(model, True, seed, True, True) for seed, model in product(broken_seeds, broken_models)]
    return out


CI_RUNS = tuple(runs(seeds=(0,), broken_models=("shallow",), broken_seeds=(0,))
                + runs(models=("shallow",), seeds=(1, 2)))


def batches(targets=None, chosen=CI_RUNS) -> list[list[Job]]:
    """One list of jobs per target (the ``chosen`` runs), the slowest target first."""
    targets = list(TARGETS) if targets is None else list(targets)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ValueError(f"targets must be among {sorted(TARGETS)}, got {unknown}")
    return [[Job(target=target, model=model, bn=bn, seed=seed, broken_bn=broken, twin=twin)
             for model, bn, seed, broken, twin in chosen]
            for target in sorted(targets, key=lambda t: -COST.get(t, 0))]
