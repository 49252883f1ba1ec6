"""Framework adapters, discovered at run time.

``discover()`` lists every adapter the suite knows, installed or not, without importing any
framework; ``load(name)`` imports one and returns its ``Adapter``, or raises ``Unavailable`` with the
reason (a framework that is not installed is skipped with that reason, never an import error).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass

from .base import Adapter, BNRun, Capabilities, Conventions, DefaultRun, LayerState, Unavailable

__all__ = [
    "Adapter",
    "AdapterInfo",
    "BNRun",
    "Capabilities",
    "Conventions",
    "DefaultRun",
    "LayerState",
    "Unavailable",
    "describe",
    "discover",
    "get",
    "load",
    "register",
]


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    framework: str  # the distribution whose version names the framework's release
    module: str
    factory: str
    requires: tuple[str, ...]  # modules that must be importable
    backend: str | None = None
    backend_distribution: str | None = None  # e.g. "tensorflow-cpu" under Keras

    def missing(self) -> str | None:
        """Why this adapter cannot load, judged without importing anything; None if it may."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed"
        return None

    def version(self) -> str | None:
        return distribution_version(self.framework)

    def load(self) -> Adapter:
        reason = self.missing()
        if reason:
            raise Unavailable(f"{self.name}: {reason}")
        try:
            module = importlib.import_module(self.module)
            return getattr(module, self.factory)()
        except Unavailable:
            raise
        except Exception as e:  # noqa: BLE001 - any import failure becomes a skip reason
            raise Unavailable(f"{self.name}: loading failed with {type(e).__name__}: {e}") from e


def distribution_version(name: str) -> str | None:
    candidates = {
        "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel"),
    }.get(name, (name,))
    for dist in candidates:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


_K = "adapters.keras_adapter"
_REGISTRY: dict[str, AdapterInfo] = {
    info.name: info
    for info in (
        AdapterInfo("torch", "torch", "adapters.torch_adapter", "load", ("torch",)),
        AdapterInfo("torch-functional", "torch", "adapters.torch_adapter", "load_functional", ("torch",)),
        AdapterInfo("keras-tensorflow", "keras", _K, "load_tensorflow", ("keras", "tensorflow"), "tensorflow", "tensorflow"),
        AdapterInfo("keras-jax", "keras", _K, "load_jax", ("keras", "jax"), "jax", "jax"),
        AdapterInfo("keras-torch", "keras", _K, "load_torch", ("keras", "torch"), "torch", "torch"),
        AdapterInfo("tf_keras", "tf_keras", "adapters.tf_keras_adapter", "load", ("tf_keras", "tensorflow"), "tensorflow", "tensorflow"),
        AdapterInfo("jax", "jax", "adapters.jax_adapter", "load", ("jax",)),
        AdapterInfo("flax-linen", "flax", "adapters.flax_adapter", "load_linen", ("flax", "jax")),
        AdapterInfo("flax-nnx", "flax", "adapters.flax_adapter", "load_nnx", ("flax", "jax")),
    )
}
_LOADED: dict[str, Adapter | Unavailable] = {}


def discover() -> list[AdapterInfo]:
    return list(_REGISTRY.values())


def get(name: str) -> AdapterInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"target: unknown adapter {name!r}; known: {', '.join(_REGISTRY)}") from None


def register(info: AdapterInfo, adapter: Adapter | None = None) -> None:
    """Add an adapter at run time (``--bn-impl``), optionally already built."""
    _REGISTRY[info.name] = info
    _LOADED.pop(info.name, None)
    if adapter is not None:
        _LOADED[info.name] = adapter


def load(name: str) -> Adapter:
    """The loaded adapter (cached); raises ``Unavailable`` with the reason it cannot be."""
    if name not in _LOADED:
        try:
            _LOADED[name] = get(name).load()
        except Unavailable as e:
            _LOADED[name] = e
    result = _LOADED[name]
    if isinstance(result, Unavailable):
        raise result
    return result


def describe(target: str) -> dict:
    """Framework, version and backend of a target, without importing the framework."""
    info = _REGISTRY.get(target)
    if info is None:
        return {"framework": target, "version": None, "backend": None}
    backend_version = distribution_version(info.backend_distribution) if info.backend_distribution else None
    return {
        "framework": info.framework,
        "version": info.version(),
        "backend": info.backend,
        "backend_version": backend_version,
    }
