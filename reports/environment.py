"""The environment a run happened in: Python, OS, CPU/GPU, framework versions, installed packages.

Computed once per session. Everything comes from :mod:`platform`, ``/proc`` and
:mod:`importlib.metadata` (no ``pip`` subprocess, no framework import), so it costs a few
milliseconds.
"""

from __future__ import annotations

import glob
import importlib.metadata as metadata
import os
import platform
import sys
from typing import Any

__all__ = ["FRAMEWORK_DISTRIBUTIONS", "collect_environment", "installed_distributions"]

#: Distributions whose versions the report shows side by side (when installed).
FRAMEWORK_DISTRIBUTIONS = (
    "torch", "tensorflow", "tensorflow-cpu", "keras", "tf-keras", "jax", "jaxlib", "flax",
    "numpy", "ml-dtypes", "hypothesis",
)


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
        "frameworks": {name: installed[name] for name in FRAMEWORK_DISTRIBUTIONS if name in installed},
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
