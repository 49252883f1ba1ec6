"""One experiment job in its own process: the runner of the CIFAR-10 and two-blob experiments.

Keras fixes its backend at import, frameworks keep global state (seeds, thread pools, determinism
flags), and a crash in one framework should not take the others down: so every job (a
:class:`bnconform.training.jobs.Job`: a :class:`bnconform.cifar.worker.Job` or a
:class:`bnconform.blobs.worker.Job`) runs in a fresh ``python -m <job.WORKER_MODULE> worker`` process
with its environment prepared (:func:`bnconform.training.targets.prepare_environment`, and for a
job with a ``device`` :func:`bnconform.cifar.device.prepare_environment`), optionally under
``nice``. The child writes its record to a file; its stderr (progress bar, framework messages) is
passed through, and its tail is kept for the error message if it fails. Several jobs run
``parallel`` at a time through :func:`bnconform.app.processes.run_each` (Ctrl-C stops every worker).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

from bnconform.cifar.device import UNAVAILABLE_EXIT
from bnconform.cifar.device import prepare_environment as device_environment
from bnconform.training.jobs import Job, encode
from bnconform.training.targets import prepare_environment

from . import processes

#: the directory the ``bnconform`` package is imported from (a worker imports the same copy)
IMPORT_ROOT = Path(__file__).resolve().parents[2]

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
    framework's start-up) and the list of their records is returned. The job's ``WORKER_MODULE``
    names the package whose ``worker`` command runs it.
    """
    single = not isinstance(job, (list, tuple))
    batch = [job] if single else list(job)
    if len({j.target for j in batch}) != 1:
        raise ValueError("job: a batch must hold jobs of one target")
    payload = encode(job)
    job = batch[0]
    env = prepare_environment(job.target, threads, env=dict(os.environ))
    device_environment(job.target, getattr(job, "device", "cpu"), env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(IMPORT_ROOT), env.get("PYTHONPATH")]))
    sink = stream if stream is not None else getattr(sys.stderr, "buffer", None)
    module = job.WORKER_MODULE
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


def add_worker_parser(sub, func) -> None:
    """The hidden ``worker --job JSON --out FILE`` subcommand of an experiment's command line: the
    child side of the command :func:`run` starts (one place for its options)."""
    import argparse

    p = sub.add_parser("worker", help=argparse.SUPPRESS)
    p.add_argument("--job", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=func)
