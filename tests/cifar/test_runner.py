"""The worker-process runner: one job or a batch per process, errors, stderr filtering."""

from __future__ import annotations

import io

import pytest

from bnconform.app import runner
from bnconform.app.runner import RunFailed
from bnconform.cifar.worker import Job

FORWARD = {"arch": "A", "bn": True, "training": False}


def _forward(target="torch"):
    return Job(target=target, task="forward", forward_n=2, forward_configs=(FORWARD,),
               progress=False)


def test_one_job_gives_a_record_and_a_batch_a_list():
    pytest.importorskip("torch")
    single = runner.run(_forward(), timeout=600)
    assert isinstance(single, dict) and single["target"] == "torch"
    batch = runner.run([_forward(), _forward()], timeout=600)
    assert isinstance(batch, list) and len(batch) == 2
    assert batch[0]["outputs"][0]["logits"] == single["outputs"][0]["logits"]
    with pytest.raises(ValueError, match="one target"):
        runner.run([_forward("torch"), _forward("flax-linen")])


def test_a_failing_worker_is_reported_with_its_stderr(tmp_path):
    job = Job(target="torch", cifar_path=str(tmp_path / "nowhere"), progress=False)
    with pytest.raises(RunFailed, match=r"(?s)torch: worker exited with 1.*DataNotFound"):
        runner.run(job, timeout=600)
    records, errors = runner.run_many([job], parallel=1, timeout=600)
    assert records == [] and len(errors) == 1


def test_tensorflow_start_up_noise_is_dropped_but_kept_for_errors():
    text = (b"I0000 00:00 port.cc:153] oneDNN custom operations are on. You may see...\n"
            b"real message\rprogress 1\rprogress 2\nlast")
    sink, tail = io.BytesIO(), bytearray()
    runner._pump(io.BufferedReader(io.BytesIO(text)), sink, tail)
    assert sink.getvalue() == b"real message\rprogress 1\rprogress 2\nlast"
    assert bytes(tail) == text
