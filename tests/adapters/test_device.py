"""``bnconform.adapters.device``: the device every adapter runs on, tested without an accelerator.

CI has no GPU, so the device plumbing is tested on the CPU through the code path a GPU run takes:
``cpu`` asked for explicitly gives the default's results; an accelerator the framework does not see
(a fake "cuda": ``torch.cuda.is_available`` patched to False) is ``Unavailable`` with the reason (a
skip in the properties, exit 2 in the CLIs); a placement on another torch device (``meta``) shows
that layers and inputs are made where the placement says, and every record names its device.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bnconform import adapters
from bnconform.adapters import device
from bnconform import cases, checks
from bnconform.app.cli import main

CONV = cases.ConvCase(x_shape=(2, 5, 5, 3), c_out=4, padding="same")
BN = cases.BNCase(shape=(6, 3, 4, 4), axis=1, dtype="float32", eps=1e-3, momentum=0.1, steps=2)


@pytest.fixture
def fresh(monkeypatch):
    """A private load cache, and no device selected in this process."""
    monkeypatch.setattr(adapters, "_LOADED", {})
    monkeypatch.setattr(device, "_selected", None)
    monkeypatch.delenv(device.ENV, raising=False)


@pytest.mark.parametrize("name, expected", [("cpu", "cpu"), ("CUDA", "cuda"), ("gpu", "cuda"), (None, "cpu"), ("", "cpu")])
def test_device_names_normalize(name, expected):
    assert device.normalize(name) == expected


@pytest.mark.parametrize("name", ["tpu", "cuda:1", "mps"])
def test_an_unknown_device_is_a_usage_error_naming_it(name):
    with pytest.raises(device.UsageError, match=f"unknown device {name!r}"):
        device.normalize(name)


def test_the_environment_variable_selects_the_device_unless_one_is_asked(fresh, monkeypatch):
    assert device.selected() == "cpu" and not device.explicit()
    monkeypatch.setenv(device.ENV, "gpu")
    assert device.selected() == "cuda" and device.explicit()
    assert device.select("cpu") == "cpu" and device.selected() == "cpu"


@pytest.mark.parametrize("target", ["torch", "jax", "flax-linen", "keras-torch", "keras-jax", "keras-tensorflow", "tf_keras"])
def test_cpu_asked_explicitly_gives_the_defaults_results(fresh, target):
    if adapters.get(target).missing():
        pytest.skip(adapters.get(target).missing())
    default = adapters.load(target)
    explicit = adapters.load(target, "cpu")
    assert default.device_record() == explicit.device_record() == {"platform": "cpu", "name": "cpu"}
    for prop, case, mode in (("conv2d", CONV, "-"), ("bn_forward", BN, "train")):
        if case.op not in default.capabilities.ops:
            continue
        a = checks.run(prop, default, case, mode).outputs
        b = checks.run(prop, explicit, case, mode).outputs
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{target} {prop} {key}")
        assert all(c.ok for c in checks.judge(checks.run(prop, explicit, case, mode)))


def test_torch_layers_and_inputs_are_made_on_the_placements_device(fresh, monkeypatch):
    """The placement is entered around the run: a module built there, and NumPy inputs moved there
    by ``tensor()``, are on its device (``meta`` stands in for ``cuda``: same code path)."""
    torch = pytest.importorskip("torch")
    import bnconform.adapters.torch_adapter as ta

    adapter = adapters.load("torch", "cpu")
    seen = {}

    class Stop(Exception):
        pass

    def conv2d(x, w, b=None, *args, **kwargs):
        seen.update(x=x.device, w=w.device, b=b.device)
        raise Stop

    def batch_norm(x, running_mean, running_var, weight=None, bias=None, *args, **kwargs):
        seen.update(x=x.device, running_mean=running_mean.device, weight=weight.device)
        raise Stop

    meta = device.Placement("cuda", "cuda", "cuda:0 fake", lambda: torch.device("meta"))
    monkeypatch.setattr(adapter, "device", meta)
    monkeypatch.setattr(adapter, "_modules", {})
    monkeypatch.setattr(ta.F, "conv2d", conv2d)
    monkeypatch.setattr(ta.F, "batch_norm", batch_norm)
    with pytest.raises(Stop):
        checks.run("conv2d", adapter, dataclasses.replace(CONV, bias=True), "-")
    assert set(seen.values()) == {torch.device("meta")}, seen
    seen.clear()
    with pytest.raises(Stop):
        checks.run("bn_forward", adapter, BN, "train")
    assert seen and set(seen.values()) == {torch.device("meta")}, seen
    # and outside the placement, nothing is moved
    assert ta.tensor(np.zeros(2), "float32").device == torch.device("cpu")


def test_an_accelerator_torch_does_not_see_is_unavailable_with_the_reason(fresh, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(adapters.Unavailable, match=r"torch: device cuda is not available: .*torch.cuda.is_available\(\) is False"):
        adapters.load("torch", "cuda")
    # the same reason on every call (cached), and cpu still loads
    with pytest.raises(adapters.Unavailable, match="device cuda is not available"):
        adapters.load("torch", "gpu")
    assert adapters.load("torch", "cpu").device_record()["platform"] == "cpu"


def test_an_accelerator_jax_does_not_see_is_unavailable_with_the_reason(fresh, monkeypatch):
    jax = pytest.importorskip("jax")
    real = jax.devices

    def devices(platform=None):
        if platform == "gpu":
            raise RuntimeError("Unknown backend: 'gpu' requested, but no platforms that are instances of gpu are present")
        return real(platform)

    monkeypatch.setattr(jax, "devices", devices)
    for target in ("jax", "flax-linen"):
        pytest.importorskip("flax") if target.startswith("flax") else None
        with pytest.raises(adapters.Unavailable, match=f"{target}: device cuda is not available: jax .*Unknown backend"):
            adapters.load(target, "cuda")


def test_jax_arrays_are_placed_on_the_placements_device(fresh, monkeypatch):
    """JAX's placement is ``jax.default_device``: arrays made inside it land on that device."""
    jax = pytest.importorskip("jax")
    adapter = adapters.load("jax", "cpu")
    cpu = jax.devices("cpu")[0]
    with adapter.placed():
        assert jax.config.jax_default_device == cpu
        assert jax.device_put(np.zeros(2)).devices() == {cpu}


def test_replay_on_an_unavailable_device_is_a_usage_error(fresh, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["replay", "torch", "conv2d", "-", CONV.dumps(), "--device", "cuda"]) == 2
    assert "torch: device cuda is not available" in capsys.readouterr().err
    assert main(["replay", "torch", "conv2d", "-", CONV.dumps(), "--device", "tpu"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    assert main(["replay", "torch", "conv2d", "-", CONV.dumps(), "--device", "cpu"]) == 0
    assert "| device cpu" in capsys.readouterr().out


def test_run_with_an_unknown_device_is_a_usage_error(capsys):
    assert main(["run", "--device", "tpu", "--target", "torch"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err


def test_run_with_a_device_no_framework_sees_is_a_usage_error(capsys):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert main(["run", "--device", "cuda", "--target", "torch"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: no installed framework sees that device" in err
    assert "torch: device cuda is not available" in err


def test_pytest_with_an_unknown_device_is_a_usage_error(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "pytest", "bnconform/conformance/test_properties.py", "--device", "tpu",
                           "-p", "no:cacheprovider", "-q", "--co"], cwd=repo, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(repo)), timeout=120)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage error
    assert "unknown device 'tpu'" in proc.stdout + proc.stderr
