"""Kernel configurations: the CPU kernel paths a framework engine takes, by name.

A framework picks its CPU kernels by the machine's instruction sets and by switches that exist to
reproduce other CPUs on one machine. A *kernel configuration* is a named set of those switches for
one engine; ``--kernels NAME`` (and ``BNCONFORM_KERNELS``) runs the suite under it, and every record
names the configuration it ran under, so that a verdict says which kernel path produced it.

``default`` is no switch at all: the path this machine's CPU selects. It is not a path of its own:
:mod:`bnconform.adapters.kernel_paths` measures which named configuration the machine's default *is* (oneDNN
on or off for TensorFlow, the ATen capability for PyTorch) and records that name, so a known
deviation scoped to ``kernels = "onednn-off"`` explains the same kernel whether it was reached by the
switch or by a CPU whose default it is.

Each configuration states how it is selected (``env``: variables set before the framework is
imported; ``torch_mkldnn``: PyTorch's in-process oneDNN switch) and what must be measured for it to
count as honoured (``bnconform.adapters.kernel_paths``): a switch that did not take effect is a skip with the
measured reason, never a silent run of the default path under another name.

This module is the one place for the names; nothing here imports a framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

ENV = "BNCONFORM_KERNELS"
DEFAULT = "default"
ALL = "all"


class UsageError(ValueError):
    """An unknown configuration name (a usage error, asked on the command line or by env)."""


@dataclass(frozen=True)
class Config:
    """One named kernel configuration of one engine."""

    name: str
    engine: str  # torch or tensorflow (bnconform.adapters.registry's engine)
    doc: str  # which CPUs take this path, and how it is selected
    env: Mapping[str, str] = field(default_factory=dict)  # set before the framework is imported
    torch_mkldnn: bool | None = None  # torch.backends.mkldnn.enabled, set after import (None: untouched)
    cpu_flags: tuple[str, ...] = ()  # /proc/cpuinfo flags the CPU needs for the path to exist
    #: where the path depends on the dtype: dtype -> alternatives (each a set of CPU flags that must all
    #: be present) under which that dtype takes this path; a dtype not listed, or a CPU with none of
    #: its alternatives, takes ``fallback`` instead
    dtype_flags: Mapping[str, tuple[tuple[str, ...], ...]] | None = None
    fallback: str | None = None

    def for_dtype(self, dtype: str | None, flags: set[str]) -> str:
        """The path a ``dtype`` computation takes under this configuration on a CPU with ``flags``."""
        if self.dtype_flags is None or dtype is None:
            return self.name
        alternatives = self.dtype_flags.get(dtype)
        if alternatives is not None and any(set(needed) <= flags for needed in alternatives):
            return self.name
        return str(self.fallback)


#: every named configuration, by engine, in the order ``--kernels all`` runs them
CONFIGS: tuple[Config, ...] = (
    Config("aten-avx512", "torch", "ATen's AVX-512 kernels (ATEN_CPU_CAPABILITY=avx512): the default on "
           "CPUs with AVX-512 F/BW/VL/DQ", env={"ATEN_CPU_CAPABILITY": "avx512"},
           cpu_flags=("avx512f", "avx512bw", "avx512vl", "avx512dq")),
    Config("aten-avx2", "torch", "ATen's AVX2 kernels (ATEN_CPU_CAPABILITY=avx2): the default on AVX2 CPUs "
           "without AVX-512", env={"ATEN_CPU_CAPABILITY": "avx2"}, cpu_flags=("avx2", "fma")),
    Config("aten-default", "torch", "ATen's non-vectorized kernels (ATEN_CPU_CAPABILITY=default): CPUs "
           "without AVX2 (and any build without vector kernels)", env={"ATEN_CPU_CAPABILITY": "default"}),
    Config("torch-onednn-off", "torch", "the machine's ATen capability with PyTorch's oneDNN (mkldnn) "
           "kernels switched off (torch.backends.mkldnn.enabled = False): builds without oneDNN",
           torch_mkldnn=False),
    # TensorFlow rewrites an op to oneDNN only for the dtypes oneDNN supports on the CPU
    # (IsDataTypeSupportedByOneDNNOnThisCPU, tensorflow/core/util/util.cc, TF 2.21): float32 always;
    # bfloat16 with AVX512F or AVX_NE_CONVERT; float16 with AVX512BW and AVX512_FP16 or AMX_FP16, or
    # AVX_NE_CONVERT; float64 never. The others run TensorFlow's Eigen kernels, as with oneDNN off
    # (it logs "oneDNN supports DT_BFLOAT16 only on platforms with AVX-512. Falling back to the default
    # Eigen-based implementation"; measured on an AVX2 EPYC with ONEDNN_VERBOSE=1: float32 pooling runs
    # oneDNN's jit:avx2 primitives, bfloat16 and float16 pooling none).
    Config("onednn-on", "tensorflow", "TensorFlow with oneDNN's kernels (TF_ENABLE_ONEDNN_OPTS=1): the "
           "default on x86 CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; only for the dtypes oneDNN "
           "supports on the CPU (float32; bfloat16 with AVX-512; float16 with AVX512_FP16), the rest run "
           "TensorFlow's own kernels", env={"TF_ENABLE_ONEDNN_OPTS": "1"},
           dtype_flags={"float32": ((),), "bfloat16": (("avx512f",), ("avx_ne_convert",)),
                        "float16": (("avx512bw", "avx512_fp16"), ("avx512bw", "amx_fp16"), ("avx_ne_convert",))},
           fallback="onednn-off"),
    Config("onednn-off", "tensorflow", "TensorFlow's own (Eigen) kernels (TF_ENABLE_ONEDNN_OPTS=0): the "
           "default on CPUs without those extensions (AVX2-only Intel and AMD parts)",
           env={"TF_ENABLE_ONEDNN_OPTS": "0"}),
)

ENGINES = tuple(dict.fromkeys(c.engine for c in CONFIGS))


def names() -> tuple[str, ...]:
    """Every name ``--kernels`` takes: ``default``, each configuration, ``all``."""
    return (DEFAULT, *(c.name for c in CONFIGS), ALL)


def get(name: str) -> Config:
    """The configuration ``name`` (``UsageError`` naming the known ones; ``default`` has no record)."""
    for config in CONFIGS:
        if config.name == name:
            return config
    raise UsageError(f"--kernels: unknown kernel configuration {name!r}; known: {', '.join(names())}")


def for_engine(engine: str | None) -> tuple[Config, ...]:
    """The configurations of ``engine`` (none for an engine that declares no switch, e.g. jax)."""
    return tuple(c for c in CONFIGS if c.engine == engine)


def check(name: str | None) -> str:
    """``name`` (None or empty: ``default``) if it is ``default`` or a configuration; ``UsageError``
    otherwise (``all`` is for ``bnconform run``, which expands it per family)."""
    name = (name or DEFAULT).strip()
    if name == ALL:
        raise UsageError("--kernels all runs every configuration, each in a process of its own: it is for "
                         "bnconform run; pytest and bnconform replay take one configuration")
    if name != DEFAULT:
        get(name)
    return name


def expand(requested: list[str] | None, engine: str | None) -> list[str]:
    """The configurations a family of ``engine`` runs for ``--kernels`` ``requested`` (None: just
    ``default``): ``all`` is default and every configuration of the engine; a named configuration of
    another engine does not apply to this family."""
    wanted = list(requested or [DEFAULT])
    for name in wanted:
        if name != ALL:
            check(name)
    out: list[str] = []
    for name in wanted:
        chosen = [DEFAULT, *(c.name for c in for_engine(engine))] if name == ALL else [name]
        for one in chosen:
            if (one == DEFAULT or get(one).engine == engine) and one not in out:
                out.append(one)
    return out


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str] | None:
    """Every flag of the first CPU in ``cpuinfo`` (x86 ``flags``, Arm ``Features``); None where the
    file cannot be read (not Linux)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        return None
    return set()
