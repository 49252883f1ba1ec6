"""One training run in its own process.

Keras fixes its backend at import, frameworks keep global state (seeds, thread pools, determinism
flags), and a crash in one framework should not take the others down: so every run is a fresh
``python -m bnconform.cifar worker`` process with its environment prepared
(:func:`bnconform.training.targets.prepare_environment`), optionally under ``nice``. The child writes its record
to a file; its stderr (progress bar, framework messages) is passed through, and its tail is kept for
the error message if it fails. Several jobs run ``parallel`` at a time through
:func:`bnconform.app.processes.run_each` (Ctrl-C stops every worker).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from bnconform.app import processes

from bnconform.training.targets import prepare_environment
from .device import UNAVAILABLE_EXIT
from .device import prepare_environment as device_environment

#: the directory the ``bnconform`` package is imported from (a worker imports the same copy)
IMPORT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Job:
    target: str
    arch: str = "A"
    bn: bool = True
    profile: str = "quick"
    seed: int = 0
    broken_bn: bool = False
    cifar_path: str | None = None
    epochs: int | None = None  # overrides of the profile (profile name becomes "custom")
    n_train: int | None = None
    n_val: int | None = None
    progress: bool = True
    live: bool = False  # redraw the progress line (the parent is on a terminal)
    device: str = "cpu"  # "cpu" or "cuda" (bnconform.cifar.device): where the worker trains
    task: str = "train"  # or "forward": logits of initial models on parity.parity_batch;
    # or "probe": the device's placement only ({"target", "device"}; no data, no training)
    forward_n: int = 16
    # for "forward": dicts {"arch", "bn", "training", "permute_flatten"} (the last: torch only,
    # False only to show that the permutation matters); one process serves them all
    forward_configs: tuple = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Job":
        fields = json.loads(text)
        fields["forward_configs"] = tuple(fields.get("forward_configs", ()))
        return cls(**fields)


class RunFailed(RuntimeError):
    """The worker process exited with an error; the message holds its stderr tail."""


class DeviceUnavailable(RunFailed):
    """The worker's framework does not see the device asked for (worker exit
    :data:`bnconform.cifar.device.UNAVAILABLE_EXIT`); the message is the framework's reason, naming the device."""


# Messages TensorFlow prints before its logging is set up (so TF_CPP_MIN_LOG_LEVEL cannot silence
# them): not passed through, but kept in the tail an error message quotes.
NOISE = re.compile(rb"oneDNN custom operations are on|absl::InitializeLog|node_def_util\.cc|"
                   rb"cpu_feature_guard\.cc|To enable the following instructions|"
                   rb"rebuild TensorFlow with the appropriate")


def _pump(source, sink, tail: bytearray, limit: int = 16_384) -> None:
    """Copy the child's stderr to ``sink`` segment by segment (a segment ends in \\n or \\r, so the
    progress bar's redraws pass), dropping :data:`NOISE`; keep the last ``limit`` bytes."""
    pending = b""
    for chunk in iter(lambda: source.read1(4096), b""):
        tail += chunk
        del tail[:-limit]
        pending += chunk
        segments = re.split(rb"(?<=[\r\n])", pending)
        pending = segments.pop()
        if sink is not None:
            kept = b"".join(seg for seg in segments if not NOISE.search(seg))
            if kept:
                sink.write(kept)
                sink.flush()
    if sink is not None and pending and not NOISE.search(pending):
        sink.write(pending)
        sink.flush()


def run(job: Job | list, *, threads: int | None = None, nice: int | None = None,
        timeout: float | None = None, stream=None) -> dict | list:
    """Run ``job`` in a worker process and return its record.

    ``job`` may be a list of jobs of one target: one process runs them in turn (saving the
    framework's start-up) and the list of their records is returned. Another experiment's job
    (a dataclass with ``target``, ``live`` and ``to_json``, e.g. :class:`bnconform.blobs.runner.Job`) names
    the package whose ``worker`` command runs it in ``WORKER_MODULE``; the default is ``bnconform.cifar``.
    """
    single = not isinstance(job, (list, tuple))
    batch = [job] if single else list(job)
    if len({j.target for j in batch}) != 1:
        raise ValueError("job: a batch must hold jobs of one target")
    payload = job.to_json() if single else json.dumps([asdict(j) for j in batch])
    job = batch[0]
    env = prepare_environment(job.target, threads, env=dict(os.environ))
    device_environment(job.target, getattr(job, "device", "cpu"), env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(IMPORT_ROOT), env.get("PYTHONPATH")]))
    sink = stream if stream is not None else getattr(sys.stderr, "buffer", None)
    module = getattr(job, "WORKER_MODULE", "bnconform.cifar")
    with tempfile.TemporaryDirectory(prefix=f"bnconform-{module}-") as tmp:
        out = Path(tmp) / "record.json"
        command = [sys.executable, "-m", module, "worker", "--job", payload, "--out", str(out)]
        if nice:
            command = ["nice", "-n", str(nice)] + command
        with processes.popen(command, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as child:
            tail = bytearray()
            pump = threading.Thread(target=_pump, args=(child.process.stderr, sink, tail), daemon=True)
            pump.start()
            try:
                code = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise RunFailed(f"{job.target}: worker timed out after {timeout} s") from None
            pump.join()
        if code == UNAVAILABLE_EXIT:
            lines = tail.decode(errors="replace").strip().splitlines()
            raise DeviceUnavailable(lines[-1] if lines else f"{job.target}: device not available")
        if code != 0 or not out.exists():
            text = tail.decode(errors="replace").strip()
            raise RunFailed(f"{job.target}: worker exited with {code}:\n{text[-4000:]}")
        return json.loads(out.read_text())


def run_many(jobs: list, *, parallel: int = 1, **options) -> tuple[list, list]:
    """Run ``jobs``, ``parallel`` worker processes at a time (each with ``options`` of :func:`run`;
    an item may be a list of jobs of one target, run by one process).

    Returns the records in the order of ``jobs`` (failed runs left out) and the error messages.
    With several at once the progress bars print one line per epoch instead of redrawing.
    """
    if parallel > 1:
        jobs = [[replace(j, live=False) for j in job] if isinstance(job, (list, tuple)) else
                replace(job, live=False) for job in jobs]

    def one(job):
        try:
            return run(job, **options)
        except RunFailed as exc:
            return exc

    outcomes = processes.run_each(one, jobs, parallel=max(1, parallel))
    records = [o for o in outcomes if not isinstance(o, RunFailed)]
    errors = [str(o) for o in outcomes if isinstance(o, RunFailed)]
    return records, errors


def work(payload: str, out: str) -> None:
    """The worker's side: run the job (or list of jobs) of ``payload`` in this process and write
    the record (or list of records) to ``out``. Raises :class:`bnconform.adapters.Unavailable` when the
    target's framework does not see the job's device (``cmd_worker`` exits with
    :data:`bnconform.cifar.device.UNAVAILABLE_EXIT`)."""
    from .device import placement

    parsed = json.loads(payload)
    jobs = [Job.from_json(json.dumps(j)) for j in parsed] if isinstance(parsed, list) else [
        Job.from_json(payload)]
    prepare_environment(jobs[0].target)
    device_environment(jobs[0].target, jobs[0].device, os.environ)
    placed = placement(jobs[0].target, jobs[0].device)  # before any data: fail fast
    tasks = {"forward": forward, "train": train_job,
             "probe": lambda job, where: {"target": job.target, "device": where.record()}}
    records = [tasks[job.task](job, placed) for job in jobs]
    record = records if isinstance(parsed, list) else records[0]
    tmp = Path(out).with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, out)


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
    )
    overridden = protocol != base or profile is None
    return train.run(job.target, job.arch, job.bn, "custom" if overridden else job.profile,
                     protocol, job.seed, data, broken_bn=job.broken_bn, progress=job.progress,
                     live=job.live, placement=placement)
