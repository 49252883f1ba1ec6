"""The environment a run happened in: Python, OS, CPU/GPU, framework versions, installed packages,
and the machine facts that decide which kernels a framework picks.

The last matter because a framework's CPU kernels, and so what it offers and how it rounds, depend on
the machine: TensorFlow takes oneDNN's kernels (which accept NCHW Conv2D in float32 and bfloat16, and
float16 only where the CPU has AVX512-FP16) unless ``TF_ENABLE_ONEDNN_OPTS=0``; oneDNN and PyTorch pick
instruction sets (AVX2, AVX-512, AMX) from the CPU flags, capped by ``ONEDNN_MAX_CPU_ISA`` and
``ATEN_CPU_CAPABILITY``; XLA reads ``XLA_FLAGS``. Two runs of the same versions that tested different
things (see the report's coverage view) usually differ here.

Computed once per session. Everything comes from :mod:`platform`, ``/proc`` and
:mod:`importlib.metadata` (no ``pip`` subprocess, no framework import), so it costs a few
milliseconds.
"""

from __future__ import annotations

import glob
import importlib.metadata as metadata
import os
import platform
import re
import sys
from typing import Any

from bnconform import engines
from bnconform.engines import kernels

__all__ = ["FRAMEWORK_DISTRIBUTIONS", "KERNEL_SETTINGS", "collect_environment", "cpu_flags", "framework_distributions",
           "installed_distributions", "kernel_setting_names", "kernel_settings"]

#: The layer APIs' distributions (the engines' come from their records, ``bnconform.engines``) and
#: the numerics the suite itself runs on.
LAYER_DISTRIBUTIONS = ("keras", "tf-keras", "flax")
BASE_DISTRIBUTIONS = ("numpy", "ml-dtypes", "hypothesis")


def framework_distributions() -> tuple[str, ...]:
    """Distributions whose versions the report shows side by side (when installed): every engine's
    (registered ones included), the layer APIs', the base numerics'."""
    named = [d for engine in engines.all_engines() for d in engine.distributions]
    return tuple(dict.fromkeys([*named, *LAYER_DISTRIBUTIONS, *BASE_DISTRIBUTIONS]))


def kernel_setting_names() -> tuple[str, ...]:
    """Environment variables that decide which kernels the frameworks take (None in the file: unset,
    so the framework's default, e.g. oneDNN on for TensorFlow on x86-64 Linux): every engine's
    ``kernel_settings``, and the OpenMP thread count."""
    named = [v for engine in engines.all_engines() for v in engine.kernel_settings]
    return tuple(dict.fromkeys([*named, "OMP_NUM_THREADS"]))


#: the shipped engines' lists (the functions also see engines registered later)
FRAMEWORK_DISTRIBUTIONS = framework_distributions()
KERNEL_SETTINGS = kernel_setting_names()

#: CPU flags (``/proc/cpuinfo``) that select vector kernels: SIMD widths, FMA, half-precision and
#: bfloat16 arithmetic, AMX tiles (x86); NEON, SVE and their half/bf16 extensions (Arm).
_KERNEL_FLAG = re.compile(r"^(avx|amx|fma|f16c|sse4|asimd|sve|bf16|fphp|i8mm)")


def installed_distributions() -> dict[str, str]:
    """``{normalized name: version}`` of every installed distribution (a ``pip freeze``)."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            found.setdefault(_normalize(name), dist.version)
    return dict(sorted(found.items()))


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def collect_environment() -> dict[str, Any]:
    """The ``environment`` object of a results file."""
    installed = installed_distributions()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": _gpu_models(),
        "cpu_flags": cpu_flags(),
        "kernel_settings": kernel_settings(),
        "frameworks": {name: installed[name] for name in framework_distributions() if name in installed},
        "pip_freeze": [f"{name}=={version}" for name, version in installed.items()],
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str] | None:
    """The kernel-deciding flags of the first CPU in ``cpuinfo`` (x86 ``flags``, Arm ``Features``),
    sorted; None where the file cannot be read (not Linux)."""
    flags = kernels.cpu_flags(cpuinfo)
    return None if flags is None else sorted(flag for flag in flags if _KERNEL_FLAG.match(flag))


def kernel_settings(environ=None) -> dict[str, str | None]:
    """``{name: value}`` of :func:`kernel_setting_names` (None: unset)."""
    environ = os.environ if environ is None else environ
    return {name: environ.get(name) for name in kernel_setting_names()}


def _gpu_models() -> list[str] | None:
    """NVIDIA GPUs as the kernel driver lists them; None when there is none (or no driver)."""
    models = []
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        try:
            with open(info, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    key, _, value = line.partition(":")
                    if key.strip() == "Model":
                        models.append(value.strip())
        except OSError:
            continue
    return models or None
