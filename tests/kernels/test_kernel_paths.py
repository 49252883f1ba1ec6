"""Each kernel configuration takes effect, measured (bnconform.adapters.kernel_paths), or says why it did not.

Every probe runs ``python -m bnconform.adapters.kernel_paths ENGINE CONFIG`` in a fresh interpreter, since the
switches are read when the framework is imported. A configuration counts as honoured only when the
engine's own report names it; these tests check that report against what each switch must change
(ATen's capability, the convolution backend PyTorch picks, TensorFlow's oneDNN flag).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnconform.adapters import kernel_paths
from bnconform.engines import kernels

ROOT = Path(__file__).resolve().parents[2]
FLAGS = kernel_paths.cpu_flags() or set()


@functools.lru_cache(maxsize=None)
def probe(engine: str, config: str | None = None, **env) -> dict:
    """The Path JSON of ``engine`` under ``config`` in a fresh interpreter (``env``: extra variables);
    each probe runs once per session (an interpreter importing TensorFlow takes seconds)."""
    environ = {k: v for k, v in os.environ.items() if k != kernels.ENV}
    environ.update(TF_CPP_MIN_LOG_LEVEL="3", **env)
    proc = subprocess.run([sys.executable, "-m", "bnconform.adapters.kernel_paths", engine, *([config] if config else [])],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def resolve_here(monkeypatch, engine: str, config: str) -> kernel_paths.Path:
    """``kernel_paths.resolve(engine)`` in this process with ``config`` asked for (undone after)."""
    monkeypatch.setenv(kernels.ENV, config)
    monkeypatch.setattr(kernel_paths, "_selected", None)
    kernel_paths.resolve.cache_clear()
    try:
        return kernel_paths.resolve(engine)
    finally:
        kernel_paths.resolve.cache_clear()


def test_every_configuration_names_an_engine_with_a_measurement():
    for config in kernels.CONFIGS:
        assert config.engine in ("torch", "tensorflow"), config
        assert config.env or config.torch_mkldnn is not None, f"{config.name} switches nothing"
    assert len({c.name for c in kernels.CONFIGS}) == len(kernels.CONFIGS)
    assert kernels.DEFAULT not in {c.name for c in kernels.CONFIGS}


def test_expand_runs_default_and_each_configuration_of_the_engine():
    assert kernels.expand(None, "torch") == ["default"]
    assert kernels.expand(["all"], "tensorflow") == ["default", "onednn-on", "onednn-off"]
    assert kernels.expand(["all"], "jax") == ["default"]
    assert kernels.expand(["default", "onednn-off"], "torch") == ["default"]
    assert kernels.expand(["onednn-off"], "torch") == []
    with pytest.raises(kernels.UsageError, match="unknown kernel configuration 'avx9000'"):
        kernels.expand(["avx9000"], "torch")
    with pytest.raises(kernels.UsageError, match="--kernels all runs every configuration, .* it is for bnconform run"):
        kernels.check("all")


@pytest.mark.parametrize("flags, expected", [
    # TensorFlow's IsDataTypeSupportedByOneDNNOnThisCPU (tensorflow/core/util/util.cc): float32 always,
    # bfloat16 with AVX512F or AVX_NE_CONVERT, float16 with AVX512BW and AVX512_FP16 / AMX_FP16, or
    # AVX_NE_CONVERT, float64 never; the rest runs TensorFlow's Eigen kernels
    ({"avx2", "fma"}, {"float32": "onednn-on", "bfloat16": "onednn-off", "float16": "onednn-off",
                       "float64": "onednn-off"}),
    ({"avx2", "avx512f", "avx512bw"}, {"float32": "onednn-on", "bfloat16": "onednn-on", "float16": "onednn-off",
                                       "float64": "onednn-off"}),
    ({"avx512f", "avx512bw", "avx512_fp16"}, {"float32": "onednn-on", "bfloat16": "onednn-on",
                                              "float16": "onednn-on", "float64": "onednn-off"}),
    ({"avx512_fp16"}, {"float32": "onednn-on", "bfloat16": "onednn-off", "float16": "onednn-off",
                       "float64": "onednn-off"}),
    ({"avx2", "avx_ne_convert"}, {"float32": "onednn-on", "bfloat16": "onednn-on", "float16": "onednn-on",
                                  "float64": "onednn-off"}),
])
def test_onednn_serves_the_dtypes_the_cpu_supports_and_the_rest_falls_back(flags, expected):
    config = kernels.get("onednn-on")
    assert {dtype: config.for_dtype(dtype, flags) for dtype in expected} == expected
    assert kernels.get("onednn-off").for_dtype("bfloat16", flags) == "onednn-off"


class TestTorch:
    torch = pytest.importorskip("torch")

    def test_the_default_is_the_capability_this_cpu_selects(self):
        path = probe("torch")
        assert path["asked"] == "default" and path["honoured"]
        expected = "AVX512" if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= FLAGS else (
            "AVX2" if "avx2" in FLAGS else "DEFAULT")
        # torch may keep AVX2 on some AVX-512 parts; it never claims more than the CPU has
        assert path["state"]["capability"] in (expected, "AVX2", "DEFAULT")
        assert path["name"] == f"aten-{path['state']['capability'].lower()}"

    def test_aten_default_switches_the_capability(self):
        path = probe("torch", "aten-default")
        assert path["honoured"], path
        assert path["state"]["capability"] == "DEFAULT" and path["name"] == "aten-default"

    @pytest.mark.skipif("avx2" not in FLAGS, reason="this CPU has no AVX2: aten-avx2 cannot take effect")
    def test_aten_avx2_switches_the_capability(self):
        path = probe("torch", "aten-avx2")
        assert path["honoured"] and path["state"]["capability"] == "AVX2"

    def test_onednn_off_changes_the_convolution_backend(self):
        on, off = probe("torch"), probe("torch", "torch-onednn-off")
        assert on["state"]["conv_backend"] == "Mkldnn", on
        assert off["honoured"] and off["state"]["conv_backend"] == "Slow2d" and off["name"] == "torch-onednn-off"

    def test_a_capability_the_cpu_lacks_is_not_honoured_with_the_missing_flags(self, tmp_path, monkeypatch):
        """torch reports AVX512 when asked on a CPU without it (measured on an AVX2-only EPYC), so
        the CPU's flags decide: a cpuinfo without AVX-512 makes aten-avx512 a refusal naming them."""
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text("processor : 0\nflags : fpu sse4_2 avx avx2 fma\n")
        real = kernel_paths.cpu_flags
        monkeypatch.setattr(kernel_paths, "cpu_flags", lambda path=str(cpuinfo): real(path))
        path = resolve_here(monkeypatch, "torch", "aten-avx512")
        assert not path.honoured
        assert path.reason.startswith("kernel configuration aten-avx512 is not available on this CPU: it lacks "
                                      "avx512f, avx512bw, avx512vl, avx512dq")

    def test_a_switch_set_after_the_import_is_caught_by_the_measurement(self, monkeypatch):
        """torch is imported in this process already: ATEN_CPU_CAPABILITY set now is too late, and
        the measurement says so instead of recording the default's path under the new name."""
        import torch  # noqa: F401 - imported before the switch on purpose

        before = kernel_paths.measure("torch")["capability"]
        if before == "DEFAULT":
            pytest.skip("this process already runs ATen's default capability")
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
        path = resolve_here(monkeypatch, "torch", "aten-default")
        assert not path.honoured and path.name == f"aten-{before.lower()}"
        assert path.reason.startswith("kernel configuration aten-default did not take effect: measured capability")


class TestTensorFlow:
    pytest.importorskip("tensorflow")

    def test_onednn_on_and_off_are_what_tensorflow_reports(self):
        on, off = probe("tensorflow", "onednn-on"), probe("tensorflow", "onednn-off")
        assert on["honoured"] and on["state"] == {"onednn": True} and on["name"] == "onednn-on"
        flags = FLAGS
        assert on["dtypes"] == {d: p for d in ("float16", "bfloat16", "float32", "float64")
                                if (p := kernels.get("onednn-on").for_dtype(d, flags)) != "onednn-on"}
        assert off["honoured"] and off["state"] == {"onednn": False} and off["name"] == "onednn-off"

    def test_the_default_is_one_of_the_two_and_follows_the_users_variable(self):
        assert probe("tensorflow")["name"] in ("onednn-on", "onednn-off")
        assert probe("tensorflow", TF_ENABLE_ONEDNN_OPTS="0")["name"] == "onednn-off"
        assert probe("tensorflow", TF_ENABLE_ONEDNN_OPTS="1")["name"] == "onednn-on"


def test_an_engine_without_configurations_records_no_path():
    assert probe("jax") == {"engine": "jax", "asked": "default", "name": None, "state": {}, "honoured": True,
                            "reason": None, "dtypes": {}}


def test_an_unknown_configuration_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "bnconform.adapters.kernel_paths", "torch", "avx9000"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown kernel configuration 'avx9000'" in proc.stderr
