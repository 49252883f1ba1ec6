"""The contracts both experiments share (:mod:`bnconform.training`): a job's trip through JSON to
its worker, the command each experiment's job names, and the epoch loop's batching and averages.
Nothing here imports a framework: these run in milliseconds."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from bnconform.blobs.worker import Job as BlobsJob
from bnconform.cifar.worker import Job as CifarJob
from bnconform.training.jobs import decode, encode
from bnconform.training.trainer import run_epoch

JOBS = [
    CifarJob(target="torch", arch="B", bn=False, seed=3, epochs=2, n_train=700, device="cuda",
             task="forward", forward_configs=({"arch": "A", "bn": True, "training": False},)),
    BlobsJob(target="keras-jax", model="shallow", seed=2, broken_bn=True, twin=False,
             task="forward", forward_configs=({"model": "deep", "bn": False},)),
]


@pytest.mark.parametrize("job", JOBS, ids=lambda j: type(j).__module__)
def test_a_job_and_a_batch_cross_the_process_boundary_unchanged(job):
    jobs, single = decode(type(job), encode(job))
    assert single and jobs == [job]
    assert type(jobs[0].forward_configs) is tuple  # frozen: a job stays hashable
    other = type(job)(target=job.target, seed=9)
    jobs, single = decode(type(job), encode([job, other]))
    assert not single and jobs == [job, other]
    assert isinstance(json.loads(encode([job, other])), list)


@pytest.mark.parametrize("job_type", [CifarJob, BlobsJob])
def test_each_job_names_a_package_with_a_worker_command(job_type):
    # the runner starts `python -m WORKER_MODULE worker`: the package must be runnable
    assert importlib.util.find_spec(f"{job_type.WORKER_MODULE}.__main__") is not None
    assert job_type.__module__ == f"{job_type.WORKER_MODULE}.worker"


def test_an_epoch_visits_the_order_in_batches_and_weights_each_batch_by_its_size():
    seen, reported = [], []

    def step(idx):  # batch loss: the first index; correct: the even indices
        seen.append(idx.tolist())
        return float(idx[0]), int((idx % 2 == 0).sum())

    order = np.array([4, 0, 3, 1, 2])
    fit = run_epoch(order, 2, step, on_batch=lambda n, loss: reported.append((n, loss)))
    assert seen == [[4, 0], [3, 1], [2]]
    assert reported == [(2, 4.0), (2, 3.0), (1, 2.0)]
    # (4 * 2 + 3 * 2 + 2 * 1) / 5 and the evens 4, 0, 2 of 5
    assert fit == {"loss": 16 / 5, "accuracy": 3 / 5}
