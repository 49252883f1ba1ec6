"""``adapters.math_mode`` on the CPU: the probe reads float32 here, reads tf32 when a planted
convolution rounds its inputs to TF32 (a wrapped ``F.conv2d`` dropping 13 mantissa bits: the
tensor cores' mechanism, made on the CPU), and ``full_float32`` sets and restores the settings."""

from __future__ import annotations

import pytest

import adapters
from adapters import math_mode

torch = pytest.importorskip("torch")


@pytest.fixture
def torch_adapter(monkeypatch):
    monkeypatch.setattr(adapters, "_LOADED", {})
    return adapters.load("torch", "cpu")


def test_the_cpu_computes_float32(torch_adapter):
    found = math_mode.probe(torch_adapter)
    assert found["device"] == {"platform": "cpu", "name": "cpu"}
    assert found["default"]["value"] == found["full_float32"]["value"] == "float32"
    assert found["default"]["reading"] == 1 + 2.0**-19  # (1 + 2^-20)^2 in float32, by hand
    assert set(found["settings"]) == {"torch.backends.cudnn.allow_tf32", "torch.backends.cuda.matmul.allow_tf32",
                                      "torch.get_float32_matmul_precision()"}


def test_a_convolution_on_tf32_inputs_reads_tf32(torch_adapter, monkeypatch):
    import adapters.torch_adapter as ta

    real = ta.F.conv2d

    def tf32(t):  # keep 10 of float32's 23 mantissa bits (truncation)
        return (t.view(torch.int32) & ~0x1FFF).view(torch.float32)

    monkeypatch.setattr(ta.F, "conv2d", lambda x, w, *a, **k: real(tf32(x), tf32(w), *a, **k))
    found = math_mode.measure(torch_adapter)
    assert found["value"] == "tf32" and found["reading"] == 1.0, found


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
