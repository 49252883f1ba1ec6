"""``bnconform.adapters.math_mode`` on the CPU: the probe reads float32 here, reads tf32 when a planted
convolution rounds its inputs to TF32 (a wrapped ``F.conv2d`` dropping 13 mantissa bits: the
tensor cores' mechanism, made on the CPU), and ``full_float32`` sets and restores the settings."""

from __future__ import annotations

import numpy as np
import pytest

from bnconform import adapters
from bnconform.adapters import math_mode

torch = pytest.importorskip("torch")


@pytest.fixture
def torch_adapter(monkeypatch):
    monkeypatch.setattr(adapters, "_LOADED", {})
    return adapters.load("torch", "cpu")


def test_the_probe_values_by_hand():
    """(1 + 2^-9 + 2^-12)^2 - 1 = 2^-8 + 2^-11 + 2^-18 + 2^-20 + 2^-24; TF32 keeps 1 + 2^-9, whose
    square is 1 + 2^-8 + 2^-18; bfloat16 keeps 1."""
    assert math_mode.EXPECTED == {"float32": 2.0**-8 + 2.0**-11 + 2.0**-18 + 2.0**-20 + 2.0**-24,
                                  "tf32": 2.0**-8 + 2.0**-18, "bfloat16": 0.0}


def test_the_cpu_computes_float32(torch_adapter):
    found = math_mode.probe(torch_adapter)
    assert found["device"] == {"platform": "cpu", "name": "cpu"}
    for probe in (found["default"], found["full_float32"], found["matmul"]["default"], found["matmul"]["full_float32"]):
        assert probe["value"] == "float32", found
        # float32 rounding of 577 terms at most: (T + 1) u of e
        assert abs(probe["reading"] - (2.0**-8 + 2.0**-11 + 2.0**-18 + 2.0**-20)) <= 577 * 2.0**-24, probe
    assert set(found["settings"]) == {"torch.backends.cudnn.allow_tf32", "torch.backends.cuda.matmul.allow_tf32",
                                      "torch.get_float32_matmul_precision()"}


def keep(bits: int, rounding: str):
    """Keep ``bits`` of float32's 23 mantissa bits: truncating, or to nearest with ties to even."""
    drop = 23 - bits
    mask = (1 << drop) - 1

    def apply(t):
        b = t.view(torch.int32)
        if rounding == "nearest":
            b = b + (mask >> 1) + ((b >> drop) & 1)
        return (b & ~mask).view(torch.float32)

    apply.__name__ = f"{rounding}{bits}"
    return apply


truncate, nearest = keep(10, "truncate"), keep(10, "nearest")


def plant(monkeypatch, rounding):
    """The torch adapter's convolution computes on inputs passed through ``rounding``."""
    import bnconform.adapters.torch_adapter as ta

    real = ta.F.conv2d
    monkeypatch.setattr(ta.F, "conv2d", lambda x, w, *a, **k: real(rounding(x), rounding(w), *a, **k))


@pytest.mark.parametrize("rounding", [truncate, nearest], ids=lambda f: f.__name__)
def test_a_convolution_on_tf32_inputs_reads_tf32(torch_adapter, monkeypatch, rounding):
    assert rounding(torch.tensor([1 + 2.0**-10 + 2.0**-11 + 2.0**-12])).item() == {
        "truncate10": 1 + 2.0**-10, "nearest10": 1 + 2.0**-9}[rounding.__name__]
    plant(monkeypatch, rounding)
    found = math_mode.measure(torch_adapter)
    assert found["value"] == "tf32", found


@pytest.mark.parametrize("rounding", [keep(7, "truncate"), keep(7, "nearest")], ids=lambda f: f.__name__)
def test_a_convolution_on_bfloat16_inputs_reads_bfloat16(torch_adapter, monkeypatch, rounding):
    plant(monkeypatch, rounding)
    found = math_mode.measure(torch_adapter)
    assert found["value"] == "bfloat16" and found["reading"] == 0.0, found  # every product 1, every sum exact


def test_a_convolution_that_is_neither_reads_other(torch_adapter, monkeypatch):
    """Half the outputs in TF32, half in float32 (say, two kernels by position): neither answer."""
    import bnconform.adapters.torch_adapter as ta

    real = ta.F.conv2d

    def mixed(x, w, *a, **k):
        y = real(x, w, *a, **k)
        y[: len(y) // 2] = real(truncate(x), truncate(w), *a, **k)[: len(y) // 2]
        return y

    monkeypatch.setattr(ta.F, "conv2d", mixed)
    found = math_mode.measure(torch_adapter)
    assert found["value"] == "other", found


def test_a_matrix_product_on_tf32_inputs_reads_tf32_beside_a_float32_convolution(torch_adapter, monkeypatch):
    real = torch.matmul
    monkeypatch.setattr(torch, "matmul", lambda a, b: real(nearest(a), nearest(b)))
    found = math_mode.probe(torch_adapter)
    assert (found["default"]["value"], found["matmul"]["default"]["value"]) == ("float32", "tf32"), found


@pytest.mark.parametrize("engine", ["jax", "tensorflow"])
def test_the_other_engines_matrix_products_read_float32_on_the_cpu(engine):
    pytest.importorskip(engine)
    assert math_mode.measure_matmul(engine, "cpu")["value"] == "float32"


def test_an_engine_without_a_record_is_an_error_naming_it():
    """Not a silent "nothing to set": an engine the suite has no record of cannot be probed."""
    from bnconform.engines import UnknownEngine

    for call in (lambda: math_mode.measure_matmul("nope", "cpu"), lambda: math_mode.settings("nope"),
                 lambda: math_mode.full_float32("nope")):
        with pytest.raises(UnknownEngine, match="unknown engine 'nope'; known: torch, tensorflow, jax"):
            call()


def test_the_probe_counts_the_terms_of_a_same_convolution():
    """Corners see 2 x 2 taps, edges 2 x 3, the inside 3 x 3, of 64 channels each, for every filter."""
    from bnconform.cases import ConvCase

    case = ConvCase(x_shape=math_mode.X_SHAPE, c_out=math_mode.C_OUT, kernel=(3, 3), padding="same")
    t = math_mode.terms(case)
    assert t.shape == (8, 16, 16, 64)
    assert (t[0, 0, 0, 0], t[0, 0, 5, 7], t[0, 5, 5, 63], t[3, 15, 15, 1]) == (4 * 64, 6 * 64, 9 * 64, 4 * 64)
    assert set(np.unique(t)) == {4 * 64, 6 * 64, 9 * 64}


def test_full_float32_sets_and_restores_torchs_settings(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        with math_mode.full_float32("torch"):
            assert math_mode.settings("torch") == {"torch.backends.cudnn.allow_tf32": False,
                                                   "torch.backends.cuda.matmul.allow_tf32": False,
                                                   "torch.get_float32_matmul_precision()": "highest"}
        assert torch.backends.cudnn.allow_tf32 is True
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)


def test_full_float32_is_highest_precision_on_jax():
    pytest.importorskip("jax")
    before = math_mode.settings("jax")
    with math_mode.full_float32("jax"):
        assert math_mode.settings("jax") == {"jax_default_matmul_precision": "highest"}
    assert math_mode.settings("jax") == before


PLANT = '''
import torch
import torch.nn.functional as F

_real = F.conv2d


def _tf32(t):  # keep 10 of float32's 23 mantissa bits (truncation), as tensor cores do
    return (t.view(torch.int32) & ~0x1FFF).view(torch.float32) if t.dtype == torch.float32 else t


def conv2d(x, w, *args, **kwargs):
    return _real(_tf32(x), _tf32(w), *args, **kwargs)


F.conv2d = conv2d
'''

ENTRY = '''
[[deviation]]
id = "torch-planted-tf32"
target = "torch"
framework = "torch"
versions = ">=2,<3"
property = "conv2d"
op = "conv2d"
dtype = "float32"
model = "tf32_inputs"
params = { rounding = "truncate" }
reason = "planted: F.conv2d on TF32 inputs"
link = "https://example.org/planted"
'''


@pytest.mark.parametrize("device, default_verdict", [(None, "known-deviation"), ("cuda", "fail")])
def test_a_tf32_default_is_a_known_deviation_but_full_float32_must_conform(tmp_path, device, default_verdict):
    """With PyTorch's convolution planted to compute on TF32 inputs and an entry modelling it: the
    default conv2d property is explained by the entry, the full-float32 one fails all the same. An
    entry for the accelerator (``device = "cuda"``) explains nothing on the cpu, where the run is."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "plant_tf32.py").write_text(PLANT)
    (tmp_path / "known.toml").write_text(ENTRY if device is None else ENTRY.replace(
        'dtype = "float32"', f'dtype = "float32"\ndevice = "{device}"'))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), str(tmp_path)]), CI="true")
    env.pop("BNCONFORM_DEVICE", None)
    subprocess.run([sys.executable, "-m", "pytest", "-p", "plant_tf32", "-p", "no:cacheprovider", "-q",
                    "bnconform/conformance/test_properties.py::test_property", "bnconform/conformance/test_math_mode.py",
                    "--target", "torch", "-k", "float32 and (conv2d or full_float32)", "--known-deviations", str(tmp_path / "known.toml"),
                    "--results", str(tmp_path / "r")], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    records = json.loads((tmp_path / "r" / "results.json").read_text())["records"]
    verdicts = {r["id"].split("::")[1]: r["verdict"] for r in records}
    assert verdicts == {"test_property[torch-conv2d-float32--]": default_verdict,
                        "test_full_float32_reads_float32[torch-float32--]": "fail",
                        "test_conv2d_full_float32[torch-float32--]": "fail"}, verdicts


@pytest.mark.parametrize("argv, problem", [(["h200", "torch"], "unknown device 'h200'"),
                                           (["cpu", "torch", "nosuch"], "unknown adapter 'nosuch'")])
def test_the_command_refuses_an_unknown_device_or_target(argv, problem, capsys):
    with pytest.raises(SystemExit) as info:
        math_mode.main(argv)
    assert info.value.code == 2 and problem in capsys.readouterr().err


def test_the_command_prints_every_targets_probe(monkeypatch, capsys):
    import json

    monkeypatch.setattr(adapters, "_LOADED", {})
    assert math_mode.main(["cpu", "torch-functional"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["torch-functional"]["default"] == {"value": None, "evidence": "torch-functional offers no conv2d"}
    assert found["torch-functional"]["matmul"]["default"]["value"] == "float32"
