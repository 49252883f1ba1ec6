"""The job contract between the runner (the parent, :mod:`bnconform.app.runner`) and an
experiment's worker (the child): what a job is, how it crosses the process boundary, and how the
worker hands its record back.

A job is a frozen dataclass of JSON values (:class:`Job`): the runner prepares the process of
``job.target``, starts ``python -m <job.WORKER_MODULE> worker --job <JSON> --out <file>`` and reads
the record the worker writes to ``<file>``. The experiment package named by ``WORKER_MODULE`` owns
the command and what the job computes (``bnconform.cifar.worker.work``,
``bnconform.blobs.worker.work``). A batch (a list of jobs of one target) travels as a JSON list
and comes back as the list of their records: the framework starts once for all of them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Protocol


class Job(Protocol):
    """What the runner needs of a job (a frozen dataclass, so that it can :func:`dataclasses.replace`
    ``live``). A job may also have ``device`` (``"cpu"``, ``"cuda"``): without one it runs on the host."""

    #: the package whose ``worker`` command runs the job (``python -m WORKER_MODULE worker``)
    WORKER_MODULE: ClassVar[str]
    #: the registry target: which framework, which process environment
    target: str
    #: redraw a progress line; the runner turns it off when several workers share the terminal
    live: bool

    def to_json(self) -> str: ...


class JsonJob:
    """The JSON round trip of a dataclass job: fields as JSON, a JSON list back as a tuple (a job
    is frozen, its fields hashable)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_fields(cls, fields: dict):
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})

    @classmethod
    def from_json(cls, text: str):
        return cls.from_fields(json.loads(text))


@dataclass(frozen=True)
class TrainingJob(JsonJob):
    """The fields both experiments' jobs have: a run of a network with or without BN (``bn``), a
    seed, the planted bug (``broken_bn``: the BN momentum's meaning inverted), or ``task="forward"``:
    the initial networks' logits for each of ``forward_configs`` (the parity tests)."""

    target: str
    bn: bool = True
    seed: int = 0
    broken_bn: bool = False
    live: bool = False  # redraw the progress line (the parent is on a terminal)
    task: str = "train"
    forward_configs: tuple = ()  # for "forward": dicts naming a network each


def encode(job) -> str:
    """The ``--job`` argument of a job, or of a list of jobs (a JSON list)."""
    if isinstance(job, (list, tuple)):
        return json.dumps([asdict(j) for j in job])
    return job.to_json()


def decode(job_type: type[JsonJob], payload: str) -> tuple[list, bool]:
    """The jobs of a ``--job`` argument and whether it was one job (not a list)."""
    parsed = json.loads(payload)
    if isinstance(parsed, list):
        return [job_type.from_fields(fields) for fields in parsed], False
    return [job_type.from_fields(parsed)], True


def write_records(out: str, records: list, single: bool) -> None:
    """Write the worker's records (one record for a single job) to ``out``, atomically: the
    runner reads ``out`` only if the worker exited normally, and then it is complete."""
    tmp = Path(out).with_suffix(".tmp")
    tmp.write_text(json.dumps(records[0] if single else records))
    os.replace(tmp, out)
