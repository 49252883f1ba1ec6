"""The worker side of a two-blob job: what :class:`Job` is and what its process computes.

:mod:`bnconform.app.runner` starts ``python -m bnconform.blobs worker --job JSON --out FILE`` (this
:class:`Job`'s ``WORKER_MODULE``) with the target's environment prepared (Keras backend, one
framework thread); a list of jobs of one target shares one process, so a framework starts once for
all its runs. :func:`work` runs them; the contract the runner relies on is
:class:`bnconform.training.jobs.Job`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bnconform.training.jobs import TrainingJob, decode, write_records
from bnconform.training.targets import prepare_environment


@dataclass(frozen=True)
class Job(TrainingJob):
    """A two-blob run of ``model`` (or, ``task="forward"``, inference logits of the initial
    networks: ``forward_configs`` dicts ``{"model", "bn"}``); ``live`` is unused (no progress bar: a
    run takes seconds)."""

    WORKER_MODULE: ClassVar[str] = "bnconform.blobs"

    model: str = "deep"
    twin: bool = True  # BN runs: also train the twin (moving-statistics check)


def parity_points(n: int = 16) -> np.ndarray:
    """The points the parity test feeds the initial networks: the first ``n`` test points."""
    from .data import generate

    return generate().x_test[:n]


def forward(job: Job) -> dict:
    """Inference logits of the initial networks (seed ``job.seed``) on :func:`parity_points`."""
    from . import backends
    from .models import bn_momentum, build_spec, initial_weights, protocol

    x = parity_points()
    outputs, trainer = [], None
    for config in job.forward_configs:
        spec, p = build_spec(config["model"], config["bn"]), protocol(config["model"])
        trainer = backends.create(job.target, spec, initial_weights(spec, job.seed),
                                  momentum=bn_momentum(config["model"], False), epsilon=p.bn_epsilon,
                                  adam=p.adam())
        logits = trainer.logits(x)
        outputs.append({**config, "logits": np.asarray(logits, np.float64).tolist(),
                        "dtype": str(np.asarray(logits).dtype)})
    return {"target": job.target, "outputs": outputs,
            "versions": trainer.versions() if trainer else {}}


def train_job(job: Job) -> dict:
    from .verdict import judge
    from .data import generate
    from .train import run as train_run

    record = train_run(job.target, job.model, job.bn, job.seed, generate(), broken_bn=job.broken_bn,
                       twin=job.twin)
    return judge(record)


def work(payload: str, out: str) -> None:
    """Run the job (or list of jobs of one target) of ``payload`` in this process and write the
    record (or list of records) to ``out``."""
    jobs, single = decode(Job, payload)
    prepare_environment(jobs[0].target)
    write_records(out, [forward(job) if job.task == "forward" else train_job(job) for job in jobs], single)
