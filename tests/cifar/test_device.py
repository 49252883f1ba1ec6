"""The device option of the CIFAR-10 trainers, tested on the CPU through the code path a GPU takes.

- ``--device cpu`` asked explicitly reaches the worker, the trainer and the record;
- a device the framework does not see (``CUDA_VISIBLE_DEVICES=""`` hides every GPU from PyTorch,
  and ``torch.cuda.is_available`` patched to False in-process) is a usage error naming the device and
  the framework's reason; an unknown device name is one too;
- a placement whose ``torch.device`` is ``meta`` proves that the model, its parameters and the batches
  go where the placement says (a ``meta`` tensor has a shape and no data: nothing ran on the host);
- the ``gpu`` profile expands to the lectures' matrix, and is refused on the CPU;
- a record with a device validates against the results schema; a malformed device does not.

No CIFAR-10 data is read here: the training runs use 40 random images.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from dataclasses import dataclass

import numpy as np
import pytest

from bnconform.adapters import Unavailable
from bnconform.adapters import device as devices
from bnconform.cifar import device as cifar_device
from bnconform.cifar import profiles, train
from bnconform.app.cifar_cli import _jobs, build_parser, main
from bnconform.app.runner import DeviceUnavailable, run
from bnconform.cifar.worker import Job

from .records import record


@dataclass(frozen=True)
class TinyData:
    """A stand-in for :class:`bnconform.cifar.dataset.Cifar10`: random uint8 images, 10 classes."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @classmethod
    def make(cls, n_train=40, n_test=20, seed=0):
        rng = np.random.default_rng(seed)
        return cls(rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
                   rng.integers(0, 10, n_train).astype(np.uint8),
                   rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
                   rng.integers(0, 10, n_test).astype(np.uint8))

    def describe(self):
        return {"source": "tiny", "sha256": "00" * 32}


def _tiny_run(placement, epochs=1):
    return train.run("torch", "A", True, "custom", profiles.Protocol(epochs, None, 10), 0, TinyData.make(),
                     progress=False, placement=placement)


# -- the placement reaches the trainer ------------------------------------------------------------

def test_explicit_cpu_reaches_the_trainer_and_the_record():
    pytest.importorskip("torch")
    placement = cifar_device.placement("torch", "cpu")
    assert placement.record() == {"platform": "cpu", "name": "cpu"}
    out = _tiny_run(placement)
    assert out["device"] == {"platform": "cpu", "name": "cpu"}
    assert out["determinism"]["device"] == "cpu" and out["determinism"]["use_deterministic_algorithms"] is True
    assert out["determinism"]["bitwise_repeatable"] is True
    # images/s: training images over the epoch's seconds, per epoch and as the median
    epoch = out["epochs"][0]
    assert epoch["images_per_s"] == pytest.approx(out["data"]["n_train"] / epoch["seconds"])
    assert out["images_per_s"] == epoch["images_per_s"] > 0


def test_the_model_and_every_batch_go_through_the_placement(monkeypatch):
    """A placement on PyTorch's ``meta`` device: built inside it, the model's parameters are meta
    tensors, and the batches the trainer makes are moved there; entering it is counted around
    every call into the framework."""
    torch = pytest.importorskip("torch")
    from bnconform.cifar import backends
    from bnconform.cifar.archs import build_spec
    from bnconform.cifar.weights import initial_weights

    entered = []

    def enter():
        entered.append(1)
        return torch.device("meta")

    meta = devices.Placement("cuda", "cuda", "meta (test)", enter)
    spec = build_spec("A", True)
    trainer = backends.create("torch", spec, initial_weights(spec, 0), seed=0, placement=meta)
    assert entered, "the model was not built inside the placement"
    assert {p.device.type for p in trainer.model.parameters()} == {"meta"}
    assert {b.device.type for b in trainer.model.buffers()} == {"meta"}
    assert trainer.batch(np.zeros((2, 32, 32, 3), np.float32)).device.type == "meta"
    # the same trainer on the host: parameters and batches on the cpu, the same placement protocol
    host = backends.create("torch", spec, initial_weights(spec, 0), seed=0,
                           placement=cifar_device.placement("torch", "cpu"))
    assert {p.device.type for p in host.model.parameters()} == {"cpu"}
    before = len(entered)
    with pytest.raises(Exception):  # a meta tensor has no data: .item() of the loss cannot run
        trainer.train_epoch(np.zeros((4, 32, 32, 3), np.float32), np.zeros(4, np.int64), np.arange(4), 2)
    assert len(entered) == before + 1  # the training step ran inside the placement


def test_flax_trainer_runs_inside_its_placement():
    pytest.importorskip("flax")
    pytest.importorskip("optax")
    import jax

    from bnconform.cifar import backends
    from bnconform.cifar.archs import build_spec
    from bnconform.cifar.weights import initial_weights

    real = cifar_device.placement("flax-linen", "cpu")
    entered = []

    def enter():
        entered.append(1)
        return real.enter()

    counted = devices.Placement("cpu", real.platform, real.name, enter)
    spec = build_spec("A", True)
    trainer = backends.create("flax-linen", spec, initial_weights(spec, 0), seed=0, placement=counted)
    assert entered == [1]
    leaves = jax.tree_util.tree_leaves(trainer.params)
    assert {d.platform for leaf in leaves for d in leaf.devices()} == {"cpu"}
    trainer.logits(np.zeros((2, 32, 32, 3), np.float32))
    assert entered == [1, 1]


# -- an unavailable device ------------------------------------------------------------------------

def test_a_framework_without_the_device_raises_unavailable_naming_it(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(Unavailable, match=r"torch: device cuda is not available: torch .* sees no CUDA device"):
        cifar_device.placement("torch", "gpu")  # gpu is cuda


def test_a_worker_without_the_device_exits_unavailable(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU for the worker, on any machine
    with pytest.raises(DeviceUnavailable, match=r"torch: device cuda is not available"):
        run(Job(target="torch", task="probe", device="cuda", progress=False), timeout=600)
    # the same worker on the cpu answers with its placement
    assert run(Job(target="torch", task="probe", device="cpu", progress=False), timeout=600) == {
        "target": "torch", "device": {"platform": "cpu", "name": "cpu"}}


def test_cli_explicit_unavailable_device_is_a_usage_error(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    out = tmp_path / "r.json"
    code = main(["run", "--targets", "torch", "--device", "cuda", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: argument --device: cuda is not available" in err
    assert "torch: device cuda is not available: torch" in err and "sees no CUDA device" in err
    assert not out.exists()  # nothing trained, nothing written


def test_cli_unknown_device_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.delenv(devices.ENV, raising=False)
    assert main(["run", "--device", "tpu", "--targets", "torch"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    monkeypatch.setenv(devices.ENV, "tpu")  # the environment variable is checked the same way
    assert main(["run", "--targets", "torch"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err


def test_bnconform_run_cifar_passes_the_device_on(tmp_path, monkeypatch, capfd):
    pytest.importorskip("torch")
    from bnconform.app import cli

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cli._run_cifar("quick", ["torch"], tmp_path, "cuda") == 2
    err = capfd.readouterr().err
    assert "argument --device: cuda is not available" in err and "torch: device cuda" in err


# -- the gpu profile ------------------------------------------------------------------------------

def _args(*argv):
    return build_parser().parse_args(["run", *argv])


def test_gpu_profile_expands_to_the_lectures_matrix():
    jobs = list(_jobs(_args("--profile", "gpu", "--targets", "torch", "flax-linen"), device="cuda"))
    runs = sorted((j.target, j.arch, j.bn, j.seed) for j in jobs)
    expected = sorted((t, arch, bn, seed) for t in ("torch", "flax-linen")
                      for arch, bn in (("A", True), ("B", True), ("B", False)) for seed in (0, 1, 2))
    assert runs == expected
    assert {(j.device, j.profile, j.epochs, j.n_train) for j in jobs} == {("cuda", "gpu", None, None)}
    gpu = profiles.get("gpu")
    # the lectures' protocols (course notes): model A 5 epochs, model B 25, all the data; batch sizes
    # are the architectures' own (A 100, B 32)
    assert gpu.protocol("A") == profiles.Protocol(5, None, None)
    assert gpu.protocol("B") == profiles.Protocol(25, None, None)
    from bnconform.cifar.archs import BATCH_SIZE

    assert (BATCH_SIZE["A"], BATCH_SIZE["B"]) == (100, 32)
    # at least the gate's minimum of seeds, so `baseline --profile gpu --seeds 0 1 2` is complete
    from bnconform.cifar.stats import MIN_SEEDS

    assert len(set(gpu.seeds)) >= MIN_SEEDS
    # every target by default; --seeds still overrides
    every = list(_jobs(_args("--profile", "gpu", "--seeds", "7"), device="cuda"))
    from bnconform.training.targets import TARGETS

    assert sorted({j.target for j in every}) == sorted(TARGETS) and {j.seed for j in every} == {7}


def test_the_other_profiles_keep_seed_0_by_default():
    jobs = list(_jobs(_args("--profile", "quick", "--targets", "torch")))
    assert [(j.arch, j.bn, j.seed, j.device) for j in jobs] == [("A", True, 0, "cpu")]


@pytest.mark.parametrize("command", ["run", "baseline"])
def test_gpu_profile_is_refused_on_the_cpu(command, capsys, monkeypatch):
    monkeypatch.delenv(devices.ENV, raising=False)
    argv = [command, "--profile", "gpu", "--targets", "torch"] + (["--seeds", "0", "1", "2"] if command == "baseline" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "profile 'gpu'" in err and "meant for an accelerator" in err and "--device cuda" in err
    assert main(argv + ["--device", "cpu"]) == 2  # asked explicitly: the same


# -- records, baselines, schema ---------------------------------------------------------------------

def test_baselines_are_per_device_platform():
    from bnconform.cifar.baselines import Store
    from bnconform.cifar.verdict import judge

    store = Store(path=None, entries=[])
    store.record([record(seed=s, test_accuracy=a) for s, a in enumerate((0.60, 0.62, 0.61))])
    old = record(test_accuracy=0.50)  # no device: written before it was recorded, ran on the CPU
    assert judge(old, store)["verdict"] == "fail"
    on_cpu = record(test_accuracy=0.50, device={"platform": "cpu", "name": "cpu"})
    assert judge(on_cpu, store)["verdict"] == "fail"
    on_gpu = record(test_accuracy=0.50, device={"platform": "cuda", "name": "cuda:0 NVIDIA H200"})
    assert judge(on_gpu, store)["verdict"] == "no-baseline" and on_gpu["baseline"] is None


def test_reports_name_the_device_next_to_images_per_s():
    from bnconform.cifar.verdict import summary_line
    from bnconform.cifar.report import render_text

    gpu = record(device={"platform": "cuda", "name": "cuda:0 NVIDIA H200"}, images_per_s=24400.0)
    cpu = record(images_per_s=729.0)
    text = render_text([cpu, gpu])
    assert "| 24400 | cuda (cuda:0 NVIDIA H200) |" in text and "| 729 | cpu |" in text
    speed = text[text.index("## Training images per second"):text.index("## Training curves")]
    assert "| cuda (cuda:0 NVIDIA H200) | 24400 |" in speed and "| cpu | 729 |" in speed
    assert "on cuda (cuda:0 NVIDIA H200)" in summary_line({**gpu, "verdict": "no-baseline"})


def test_html_view_shows_the_device_beside_images_per_s():
    from bnconform.reports.model import Run
    from bnconform.reports.page.cifar_view import cifar_section

    gpu = record(device={"platform": "cuda", "name": "cuda:0 NVIDIA H200"})
    for e in gpu["epochs"]:
        e["images_per_s"] = 24400.0
    html = str(cifar_section([Run(name="gpu", path=None, doc={"cifar": [gpu]})]))
    row = html[html.index("<tbody>"):html.index("</tbody>")]
    assert row.index(">24400<") < row.index("cuda (cuda:0 NVIDIA H200)")
    assert "torch A BN on cuda (cuda:0 NVIDIA H200)" in html  # the charts' names


def test_schema_validates_a_record_with_a_device(tmp_path):
    from bnconform.reports.schema import ResultsError, load_results

    good = record(device={"platform": "cuda", "name": "cuda:0 NVIDIA H200"},
                  determinism={"device": "cuda", "bitwise_repeatable": True})
    path = tmp_path / "cifar-gpu.json"
    path.write_text(json.dumps({"schema": "bnconform-cifar/1", "command": "test", "cifar": [good]}))
    assert load_results(path)["cifar"][0]["device"]["platform"] == "cuda"
    path.write_text(json.dumps({"schema": "bnconform-cifar/1", "cifar": [record(device={"name": "x"})]}))
    with pytest.raises(ResultsError, match="platform"):
        load_results(path)


KERAS_TORCH_STEP = """
import os, sys, json
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np
from bnconform.cifar import backends, device
from bnconform.cifar.archs import build_spec
from bnconform.cifar.weights import initial_weights
spec = build_spec("A", True)
placed = device.placement("keras-torch", "cpu") if sys.argv[1] == "placed" else None
trainer = backends.create("keras-torch", spec, initial_weights(spec, 0), seed=0, placement=placed)
x = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32)
before = [w.copy() for w in trainer.model.get_weights()]
fit = trainer.train_epoch(x, np.arange(8) % 10, np.arange(8), 4)
moved = sum(not np.array_equal(a, b) for a, b in zip(before, trainer.model.get_weights()))
print(json.dumps({"loss": fit["loss"], "moved": moved}))
"""


def test_keras_on_torch_trains_inside_its_cpu_placement():
    """Keras-on-torch inside its placement on the cpu: the weights are trained (the placement's
    device scope must not make Keras copy its variables, which loses their gradients), with the
    same loss as without a placement."""
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    import os
    import subprocess
    import sys

    from bnconform.cifar.locate import PROJECT_ROOT

    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), TF_CPP_MIN_LOG_LEVEL="3")

    def step(mode):
        proc = subprocess.run([sys.executable, "-c", KERAS_TORCH_STEP, mode], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    placed, plain = step("placed"), step("plain")
    assert placed["moved"] > 0 and placed == plain


def test_bnconform_run_cifar_gpu_on_the_cpu_is_refused_before_anything_runs(tmp_path, capsys, monkeypatch):
    from bnconform.app import cli

    monkeypatch.delenv(devices.ENV, raising=False)
    code = cli.main(["run", "--target", "torch", "--cifar", "gpu", "--results", str(tmp_path / "r")])
    assert code == 2
    assert "--cifar gpu is meant for an accelerator" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_default_targets_without_the_device_are_skipped_with_their_reason(monkeypatch):
    """Without --targets, the probe's verdict per target decides: seen (trained), unavailable
    (skipped, with the framework's reason), none seen (usage error), a crashed probe (error)."""
    from bnconform.app import runner
    from bnconform.training.targets import TARGETS
    from bnconform.app.cifar_cli import _placed_targets

    answers = {}

    def fake_run(job, **options):  # stands for the probe's worker process
        assert job.task == "probe" and job.device == "cuda"
        answer = answers[job.target]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(runner, "run", fake_run)
    for target in TARGETS:
        answers[target] = DeviceUnavailable(f"{target}: device cuda is not available: no GPU build")
    answers["torch"] = {"target": "torch", "device": {"platform": "cuda", "name": "cuda:0 X"}}
    device, targets, skipped = _placed_targets(_args("--device", "gpu"))
    assert device == "cuda" and targets == ["torch"]
    assert [t for t, _ in skipped] == [t for t in TARGETS if t != "torch"]
    assert all(reason.endswith("no GPU build") for _, reason in skipped)
    # named with --targets: the same unavailable target is a usage error naming it
    message = _placed_targets(_args("--device", "cuda", "--targets", "torch", "keras-jax"))
    assert isinstance(message, str) and "keras-jax: device cuda is not available: no GPU build" in message
    # none left: a usage error
    answers["torch"] = DeviceUnavailable("torch: device cuda is not available: none")
    message = _placed_targets(_args("--device", "cuda"))
    assert isinstance(message, str) and message.startswith("argument --device: no CIFAR-10 target sees device cuda")
    # a probe that crashed is an installed-but-broken framework: an error, never a skip
    answers["torch"] = runner.RunFailed("torch: worker exited with 1:\nImportError: broken")
    message = _placed_targets(_args("--device", "cuda"))
    assert isinstance(message, str) and "ImportError: broken" in message


@pytest.mark.parametrize("device", [None, {"platform": "cpu", "name": "cpu"}, {"platform": "cpu", "name": None},
                                    {"platform": "cuda", "name": "cuda:0 NVIDIA H200"}, {"platform": "gpu", "name": "gpu:0 H200"}])
def test_cifar_names_devices_as_the_conformance_report_does(device):
    from bnconform.reports.schema import device_label

    rec = {} if device is None else {"device": device}
    assert cifar_device.label(rec) == device_label(rec)
