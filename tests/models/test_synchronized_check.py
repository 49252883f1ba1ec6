"""The synchronized check (``bn_synchronized``) on outputs written in NumPy: the reference's own outputs
pass, a layer whose variance is taken in one pass in float32 (Keras's and tf_keras's
``synchronized=True`` moments) fails on an offset batch and the ``one_pass_variance`` model explains
it; a wrong y alone fails. And torch.nn.SyncBatchNorm's refusal of CPU tensors is the measured skip
reason of the torch target on a CPU."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bnconform import cases as C
from bnconform import checks, models, synchronized_checks
from bnconform import reference as R
from bnconform.dtypes import round_to

CASE = C.BNCase(shape=(64, 3), axis=1, dtype="float32", eps=1e-5, momentum=0.9, steps=1,
                x=C.Values(seed=2, loc=100.0, scale=0.01), params_seed=5)


def _outputs(var_of):
    inputs = C.materialize_bn(CASE)
    x = inputs.xs[0]
    mean = x.mean(axis=0)
    var = var_of(x, mean)
    y = R.normalize(x, mean, var, inputs.gamma, inputs.beta, CASE.eps, CASE.axis)
    grads = R.batch_norm_train_backward(inputs.dy, x, inputs.gamma, eps=CASE.eps, axis=CASE.axis)
    out = {"y": y, "dx": grads.dx, "dgamma": grads.dgamma, "dbeta": grads.dbeta,
           "moving_mean": 0.9 * inputs.moving_mean + 0.1 * mean, "moving_var": 0.9 * inputs.moving_var + 0.1 * var}
    return checks.Example("bn_synchronized", CASE, inputs, "train", {k: round_to(v, "float32") for k, v in out.items()},
                          convention="keras")


def _two_pass(x, mean):
    return np.square(x - mean).mean(axis=0)


def _one_pass_float32(x, mean):
    x32 = x.astype(np.float32)
    m = x32.mean(axis=0, dtype=np.float32)
    return np.maximum(np.square(x32).mean(axis=0, dtype=np.float32) - m * m, 0).astype(np.float64)


def test_the_reference_outputs_pass():
    assert all(c.ok for c in synchronized_checks.judge_bn_synchronized(_outputs(_two_pass)))


def test_a_float32_one_pass_variance_fails_and_its_model_explains_it():
    one_pass = _outputs(_one_pass_float32)
    failed = [c.name for c in synchronized_checks.judge_bn_synchronized(one_pass) if not c.ok]
    assert "moving_var" in failed
    assert all(c.ok for c in models.judge("one_pass_variance", {"clamped": True}, one_pass))


def test_a_wrong_output_alone_fails():
    ex = _outputs(_two_pass)
    ex.outputs["y"] = ex.outputs["y"] * 1.5  # (offset 1e4 spreads: y is held to about 4% here)
    assert [c.name for c in synchronized_checks.judge_bn_synchronized(ex) if not c.ok] == ["y"]


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_sync_batch_norm_refuses_cpu_tensors_and_says_so():
    from bnconform import adapters

    adapter = adapters.load("torch")
    if adapter.device_record()["platform"] != "cpu":
        pytest.skip("the refusal is CPU's; this run is on an accelerator")
    reason = adapter.synchronized_refusal()
    assert reason and "SyncBatchNorm" in reason and "GPU" in reason, reason


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_the_process_groups_rendezvous_directory_goes_with_the_process():
    """The gloo group's ``file://`` rendezvous lives in a temporary directory for the process's
    lifetime, and is removed when it exits (it was left behind in /tmp, one per test process)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("from bnconform.adapters import torch_sync; torch_sync.process_group(); "
            "import os; d = torch_sync._STATE['dir']; assert os.path.isdir(d); print(d)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    directory = Path(proc.stdout.strip().splitlines()[-1])
    assert directory.name.startswith("bnconform-gloo-") and not directory.exists()
