"""Two-blob runs in worker processes, through the CIFAR-10 harness's runner.

:func:`bnconform.cifar.runner.run` starts ``python -m bnconform.blobs worker`` (this :class:`Job`'s ``WORKER_MODULE``)
with the target's environment prepared (Keras backend, one framework thread); a list of jobs of one
target shares one process, so a framework starts once for all its runs. :func:`work` is the
worker's side.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from bnconform.training.targets import prepare_environment
from bnconform.cifar.runner import RunFailed, run, run_many  # noqa: F401 - the API of this module


@dataclass(frozen=True)
class Job:
    WORKER_MODULE: ClassVar[str] = "bnconform.blobs"

    target: str
    model: str = "deep"
    bn: bool = True
    seed: int = 0
    broken_bn: bool = False
    twin: bool = True  # BN runs: also train the twin (moving-statistics check)
    live: bool = False  # unused (no progress bar: a run takes seconds); bnconform.cifar.runner sets it
    task: str = "train"  # or "forward": inference logits of the initial networks (parity)
    forward_configs: tuple = ()  # for "forward": dicts {"model", "bn"}

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Job":
        fields = json.loads(text)
        fields["forward_configs"] = tuple(fields.get("forward_configs", ()))
        return cls(**fields)


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
    from .checks import judge
    from .data import generate
    from .train import run as train_run

    record = train_run(job.target, job.model, job.bn, job.seed, generate(), broken_bn=job.broken_bn,
                       twin=job.twin)
    return judge(record)


def work(payload: str, out: str) -> None:
    """Run the job (or list of jobs of one target) of ``payload`` in this process and write the
    record (or list of records) to ``out``."""
    parsed = json.loads(payload)
    jobs = [Job.from_json(json.dumps(j)) for j in parsed] if isinstance(parsed, list) else [
        Job.from_json(payload)]
    prepare_environment(jobs[0].target)
    records = [forward(job) if job.task == "forward" else train_job(job) for job in jobs]
    result = records if isinstance(parsed, list) else records[0]
    tmp = Path(out).with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, out)
