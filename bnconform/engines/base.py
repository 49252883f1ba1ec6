"""The record of one framework engine, and the types it is made of.

An *engine* is the array library that computes (torch, tensorflow, jax), whatever layer API sits
on top of it (Keras 3, tf_keras, Flax, a functional API). Everything true of the engine itself is
one :class:`Engine` record, one module per engine (``bnconform/engines/<name>_engine.py``):

- how an adapter is placed on a device (:class:`Placement`; :class:`Unavailable` when the device
  is not there), and which device name ``keras.device`` takes on it;
- its float32 math-mode settings, the context that forces full float32, and a matrix product
  (``bnconform.adapters.math_mode`` probes with it);
- the determinism it reports, the environment a repeatable accelerator run needs, and the thread
  settings that must be fixed before its import;
- its CPU kernel configurations (:class:`Config`, named by ``--kernels``), how the path it took is
  measured and named, and the environment variables that select its kernels;
- the Keras backend name that selects it, and the distributions the environment report names.

The records import no framework at module level: each callable imports its engine when called, so
reading a record (the report's distributions, the kernel names) costs nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Mapping

__all__ = ["Config", "Engine", "Placement", "CPU", "Unavailable", "cpu_only"]


class Unavailable(Exception):
    """The adapter's framework is not installed (neither its module nor its distribution is there),
    or the device asked for is not there: the conformance tests skip the target with this message
    as the reason. (Defined with the placements, which raise it; ``bnconform.adapters`` re-exports it.)"""


@dataclass(frozen=True)
class Placement:
    """Where an adapter runs: ``platform`` (``cpu``, ``cuda``, ``gpu``), the device's ``name`` as its
    framework reports it, and ``enter()``, a fresh context manager that makes the framework place
    new layers, parameters and inputs there."""

    request: str
    platform: str
    name: str
    enter: Callable[[], ContextManager] = field(default=contextlib.nullcontext, compare=False, repr=False)

    def record(self) -> dict:
        """The results file's ``device`` field."""
        return {"platform": self.platform, "name": self.name}


CPU = Placement("cpu", "cpu", "cpu")


def cpu_only(engine: str) -> Callable[[str, str], Placement]:
    """The placement of an engine that has no accelerator: the host for ``cpu``, else ``Unavailable``."""

    def place(target: str, request: str) -> Placement:
        if request != "cpu":
            raise Unavailable(f"{target}: device {request} is not available: engine {engine} runs on the cpu only")
        return CPU

    return place


@dataclass(frozen=True)
class Config:
    """One named kernel configuration of one engine (see :mod:`bnconform.engines.kernels`)."""

    name: str
    engine: str  # the engine record's name
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


def _no_kernel_state(config: Config | None) -> dict[str, Any]:
    return {}


def _no_kernel_path(state: dict[str, Any]) -> str | None:
    return None


def _no_environment(threads: int, env: Mapping[str, str]) -> dict[str, str]:
    return {}


@dataclass(frozen=True, kw_only=True)
class Engine:
    """What is true of one framework engine whatever the layer API on top (see the module's docstring).

    Callables, not methods, so that a record is data one module fills in (a test's toy engine too)."""

    name: str
    #: the distributions whose versions the environment report names (``bnconform.reports.environment``)
    distributions: tuple[str, ...]
    #: places a target (``placement(target, request)``, request ``cpu`` or ``cuda``); ``Unavailable`` if absent
    placement: Callable[[str, str], Placement]
    #: the float32 math-mode settings now, ``{setting: value}``
    math_settings: Callable[[], dict]
    #: a fresh context inside which float32 convolutions and products compute in full float32
    full_float32: Callable[[], ContextManager]
    #: the float32 product ``a @ a`` on ``request``, as NumPy: what a dense layer on this engine computes
    matmul: Callable[[Any, str], Any]
    #: what was asked of the engine for repeatable runs, read back now (``{setting: value}``)
    determinism: Callable[[], dict]
    #: the key of ``determinism()`` that is true when the engine's deterministic kernels were asked for
    deterministic_setting: str = ""
    #: the ``KERAS_BACKEND`` that runs Keras 3 on this engine (None: Keras 3 has no such backend)
    keras_backend: str | None = None
    #: the device ``keras.device`` takes for a request (``cpu``, ``cuda``) on this backend
    keras_devices: Mapping[str, str] = field(default_factory=lambda: {"cpu": "cpu:0", "cuda": "gpu:0"})
    #: importable module -> the distributions that install it under another name
    module_distributions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: environment variables set before the import for a repeatable run on an accelerator
    accelerator_environment: Mapping[str, str] = field(default_factory=dict)
    #: ``thread_environment(threads, env)``: variables to set before the import for ``threads`` threads
    thread_environment: Callable[[int, Mapping[str, str]], dict[str, str]] = _no_environment
    #: the environment variables that select this engine's CPU kernels (recorded by the report)
    kernel_settings: tuple[str, ...] = ()
    #: its named CPU kernel configurations, in the order ``--kernels all`` runs them
    kernels: tuple[Config, ...] = ()
    #: ``measure_kernels(config)``: apply ``config``'s in-process switch, measure the kernel state
    measure_kernels: Callable[[Config | None], dict[str, Any]] = _no_kernel_state
    #: ``kernel_path(state)``: the configuration a measured state is (None: it declares none)
    kernel_path: Callable[[dict[str, Any]], str | None] = _no_kernel_path

    def __post_init__(self):
        wrong = [c.name for c in self.kernels if c.engine != self.name]
        if wrong:
            raise ValueError(f"engine {self.name}: kernel configurations of another engine: {wrong}")
