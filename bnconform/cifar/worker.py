"""The worker side of a CIFAR-10 job: what :class:`Job` is and what its process computes.

:mod:`bnconform.app.runner` starts ``python -m bnconform.cifar worker --job JSON --out FILE`` with the
target's environment prepared; the command calls :func:`work`, which runs the job (or the list of
jobs of one target) in this process and writes the record(s). The contract the runner relies on is
:class:`bnconform.training.jobs.Job`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bnconform.training.jobs import TrainingJob, decode, write_records
from bnconform.training.targets import prepare_environment

from .device import prepare_environment as device_environment


@dataclass(frozen=True)
class Job(TrainingJob):
    """A CIFAR-10 run of ``arch`` (or a forward pass of initial models, or a device probe)."""

    WORKER_MODULE: ClassVar[str] = "bnconform.cifar"

    arch: str = "A"
    profile: str = "quick"
    cifar_path: str | None = None
    epochs: int | None = None  # overrides of the profile (profile name becomes "custom")
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None  # None: every test image (a profile's own; fewer only in a custom run)
    progress: bool = True
    device: str = "cpu"  # "cpu" or "cuda" (bnconform.cifar.device): where the worker trains
    # task "forward": logits of initial models on parity.parity_batch, forward_configs dicts
    # {"arch", "bn", "training", "permute_flatten"} (the last: torch only, False only to show that
    # the permutation matters), one process serves them all; "probe": the device's placement only
    # ({"target", "device"}; no data, no training)
    forward_n: int = 16


def work(payload: str, out: str) -> None:
    """Run the job (or list of jobs) of ``payload`` in this process and write the record (or list
    of records) to ``out``. Raises :class:`bnconform.adapters.Unavailable` when the target's
    framework does not see the job's device (the ``worker`` command exits with
    :data:`bnconform.cifar.device.UNAVAILABLE_EXIT`)."""
    from .device import placement

    jobs, single = decode(Job, payload)
    prepare_environment(jobs[0].target)
    device_environment(jobs[0].target, jobs[0].device, os.environ)
    placed = placement(jobs[0].target, jobs[0].device)  # before any data: fail fast
    tasks = {"forward": forward, "train": train_job,
             "probe": lambda job, where: {"target": job.target, "device": where.record()}}
    write_records(out, [tasks[job.task](job, placed) for job in jobs], single)


def forward(job: Job, placement=None) -> dict:
    """Logits of initial models (seed ``job.seed``) on the parity batch, and the versions.

    A fresh model per configuration: a training-mode forward updates the moving statistics.
    """
    from . import backends
    from .archs import build_spec
    from .parity import parity_batch
    from .weights import initial_weights

    x = parity_batch(job.forward_n)
    outputs = []
    for config in job.forward_configs:
        spec = build_spec(config["arch"], config["bn"])
        options = {} if config.get("permute_flatten", True) else {"permute_flatten": False}
        trainer = backends.create(job.target, spec, initial_weights(spec, job.seed),
                                  seed=job.seed, placement=placement, **options)
        logits = trainer.logits(x, training=config.get("training", False))
        outputs.append({**config, "logits": np.asarray(logits, np.float64).tolist(),
                        "dtype": str(np.asarray(logits).dtype)})
    return {"target": job.target, "outputs": outputs, "versions": trainer.versions()}


def train_job(job: Job, placement=None) -> dict:
    from . import profiles, train
    from .dataset import load

    data = load(job.cifar_path)
    profile = profiles.get(job.profile) if job.profile != "custom" else None
    base = profile.protocol(job.arch) if profile else profiles.Protocol(1, None, None)
    protocol = profiles.Protocol(
        job.epochs if job.epochs is not None else base.epochs,
        job.n_train if job.n_train is not None else base.n_train,
        job.n_val if job.n_val is not None else base.n_val,
        job.n_test if job.n_test is not None else base.n_test,
    )
    overridden = protocol != base or profile is None
    return train.run(job.target, job.arch, job.bn, "custom" if overridden else job.profile,
                     protocol, job.seed, data, broken_bn=job.broken_bn, progress=job.progress,
                     live=job.live, placement=placement)
