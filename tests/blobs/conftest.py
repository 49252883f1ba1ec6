"""The two-blob CI run: the matrix of :mod:`bnconform.blobs.matrix` on every selected target, trained once
per session, two worker processes at a time.

Targets: every target of the CIFAR-10 harness (``keras-tensorflow``, ``keras-jax``, ``keras-torch``,
``torch``, ``flax-linen``), narrowed by the suite's ``--target`` option or ``BNCONFORM_TARGETS`` as
the conformance tests are; a target whose framework is not installed is skipped with that reason.

Per target, two processes: one trains the CI matrix (on one target per trainer unless targets are
chosen: :func:`matrix_targets`; the others train only the run the determinism test repeats); the
other computes the initial networks' logits (the parity test) and trains the matrix's shallow BN run
of seed 0 again (the determinism test).

Every record goes to the results plugin (``observe.blobs``) and to ``$BNCONFORM_BLOBS_RESULTS``
(default ``results/blobs-pytest.json``, a ``bnconform-blobs/1`` file the report and the gate read).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest

from bnconform.blobs.matrix import CI_RUNS, batches
from bnconform.blobs.worker import Job
from bnconform.training.targets import TARGETS, one_per_trainer
from bnconform.reports.atomic import write_atomic

#: modules a target needs (the Keras backend's too)
NEEDS = {"keras-tensorflow": ("keras", "tensorflow"), "keras-jax": ("keras", "jax"),
         "keras-torch": ("keras", "torch"), "torch": ("torch",), "flax-linen": ("flax", "optax", "jax")}
PARITY_CONFIGS = tuple({"model": m, "bn": bn} for m in ("deep", "shallow") for bn in (True, False))
#: the run the second process repeats: the shallow network with BN and its twin, seed 0 (cheap;
#: the same framework code as the deep network's)
REPEATED = ("shallow", True, 0, False, True)
if REPEATED not in CI_RUNS:
    raise RuntimeError(f"the repeated run {REPEATED} is not in the CI matrix")


def _chosen(config) -> list[str]:
    return config.getoption("--target", default=None) or [
        t.strip() for t in os.environ.get("BNCONFORM_TARGETS", "").split(",") if t.strip()]


def selected_targets(config) -> list[str]:
    chosen = _chosen(config)
    return [t for t in TARGETS if not chosen or t in chosen]


def matrix_targets(config) -> list[str]:
    """The targets that train the whole CI matrix: those chosen (``--target``), else one per trainer
    (``bnconform.training.targets.TARGETS``: torch, Keras, Flax, the first of each). Keras's three
    backends share one trainer and one network; every selected target still runs the initial
    networks' parity and the repeated run twice, in two processes (the determinism test)."""
    if _chosen(config):
        return selected_targets(config)
    return one_per_trainer()


def missing(target: str) -> str | None:
    absent = [m for m in NEEDS[target] if importlib.util.find_spec(m) is None]
    return f"{target}: not installed ({', '.join(absent)})" if absent else None


def pytest_generate_tests(metafunc):
    """``blob_target``: every selected target (parity, determinism); ``matrix_target``: each target
    that trains the whole matrix (:func:`matrix_targets`)."""
    targets = selected_targets(metafunc.config)
    if "blob_target" in metafunc.fixturenames:
        metafunc.parametrize("blob_target", targets)
    if "matrix_target" in metafunc.fixturenames:
        metafunc.parametrize("matrix_target", matrix_targets(metafunc.config))
    if "blob_run" in metafunc.fixturenames:
        runs = [r for r in CI_RUNS if not r[3]]
        metafunc.parametrize("blob_run", runs, ids=[f"{m}-{'BN' if bn else 'noBN'}-s{s}" for m, bn, s, _, _ in runs])
    if "broken_run" in metafunc.fixturenames:
        runs = [r for r in CI_RUNS if r[3]]
        metafunc.parametrize("broken_run", runs, ids=[f"{m}-s{s}" for m, _, s, _, _ in runs])


@pytest.fixture(scope="session")
def blob_ci(pytestconfig):
    """``(records, extras, errors, seconds)``: records keyed ``(target, model, bn, seed, broken)``;
    extras per target ``{"forward": ..., "repeat": record}``; errors per target; wall seconds of
    the whole matrix."""
    from bnconform.app.runner import RunFailed, run
    from concurrent.futures import ThreadPoolExecutor

    targets = [t for t in selected_targets(pytestconfig) if missing(t) is None]
    whole = matrix_targets(pytestconfig)
    work = []
    for batch in batches(targets):
        target = batch[0].target
        if target not in whole:  # the repeated run only, for the determinism test
            batch = [job for job in batch if (job.model, job.bn, job.seed, job.broken_bn, job.twin) == REPEATED]
        model, bn, seed, broken, twin = REPEATED
        work.append((target, "matrix", batch))
        work.append((target, "extras", [Job(target=target, task="forward", forward_configs=PARITY_CONFIGS),
                                        Job(target=target, model=model, bn=bn, seed=seed, twin=twin)]))
    records, extras, errors = {}, {}, {}

    def one(item):
        target, kind, jobs = item
        try:
            out = run(jobs, timeout=900)
        except RunFailed as exc:
            errors.setdefault(target, []).append(str(exc))
            return
        if kind == "matrix":
            for r in out:
                records[(target, r["model"], r["bn"], r["seed"], r["broken_bn"])] = r
        else:
            extras[target] = {"forward": out[0], "repeat": out[1]}

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:  # list order: slowest target's matrix first
        list(pool.map(one, work))
    seconds = time.perf_counter() - started
    from bnconform.blobs.verdict import loss_gaps

    loss_gaps(list(records.values()))
    return records, extras, errors, seconds


@pytest.fixture(scope="session")
def blobs_results_file():
    path = Path(os.environ.get("BNCONFORM_BLOBS_RESULTS", "results/blobs-pytest.json"))
    doc = {"schema": "bnconform-blobs/1", "command": "pytest tests/blobs", "blobs": []}

    def add(record: dict) -> None:
        doc["blobs"].append(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(doc, indent=1) + "\n", fsync=False)

    return add


@pytest.fixture
def record_blob(request, blobs_results_file):
    """Hand a record to the results plugin (``observe.blobs``) and this session's blobs file."""

    def record(run: dict) -> None:
        try:
            plugin = request.getfixturevalue("observe")
        except pytest.FixtureLookupError:
            plugin = None
        if plugin is not None and hasattr(plugin, "blobs"):
            plugin.blobs(run)
        blobs_results_file({**run, "test_id": request.node.nodeid})

    return record
