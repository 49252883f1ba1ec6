"""Framework adapters, discovered at run time.

``discover()`` lists every adapter the suite knows, installed or not, without importing any
framework; ``load(name)`` imports one and returns its ``Adapter``.

Two ways it can fail, told apart on purpose:

- ``Unavailable``: the framework is **not installed**: a required module has neither a module spec
  (``importlib.util.find_spec`` returns None) nor a distribution's metadata. The tests skip the
  target with the reason.
- ``Broken``: the framework is **installed but does not load**: its import raises (a broken wheel, a
  jaxlib mismatch), the adapter's factory raises while building the framework's objects, or the
  distribution's metadata is there without its module. The tests of the target end in ``error``
  and the gate fails; skipping them would let a broken release through.

``find_spec`` does not execute a package, so a package whose ``__init__`` raises still has a spec:
it counts as installed, and its import error is a ``Broken``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass

from . import contract
from .base import Adapter, BNRun, Broken, Capabilities, Conventions, DefaultRun, LayerState, Unavailable
from .contract import ContractError

__all__ = [
    "Adapter",
    "AdapterInfo",
    "BNRun",
    "Broken",
    "Capabilities",
    "ContractError",
    "Conventions",
    "DefaultRun",
    "LayerState",
    "Unavailable",
    "describe",
    "device_of",
    "discover",
    "get",
    "imported",
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
        """Why this adapter cannot load because its framework is not installed, judged without
        importing anything; None if every required module is there (it may still be broken:
        :meth:`load` says). A module counts as absent only when it has no spec AND no distribution
        of that name is installed: metadata without its module is a broken install, not a skip."""
        for module in self.requires:
            if _module_spec(module) is None and module_distribution(module) is None:
                return f"{module} is not installed"
        return None

    def version(self) -> str | None:
        return distribution_version(self.framework)

    def check_installed(self) -> None:
        """Raise what can be told without importing: ``Unavailable`` (not installed) or ``Broken``
        (a distribution's metadata without its module)."""
        reason = self.missing()
        if reason:
            raise Unavailable(f"{self.name}: {reason}")
        for module in self.requires:
            if _module_spec(module) is None:  # missing() passed, so its distribution is there
                dist, version = module_distribution(module)
                raise Broken(self.name, "ModuleNotFoundError",
                             f"no module named {module!r}, although the distribution {dist} {version} is "
                             "installed (its metadata is there, its files are not)")

    def load(self, device: str = "cpu") -> Adapter:
        """The adapter, placed on ``device`` (``adapters.device``); ``Unavailable`` when not installed
        or the device is not there, ``Broken`` when installed but failing."""
        self.check_installed()
        try:
            module = importlib.import_module(self.module)
        except (Unavailable, Broken):
            raise
        except Exception as e:  # noqa: BLE001 - any import failure of an installed framework is an error
            raise Broken(self.name, type(e).__name__, str(e), stage="import") from e
        placement = self.placement(device)  # Unavailable: no such device on this machine
        try:
            adapter = contract.check(getattr(module, self.factory)())  # its ops' methods are there
        except (Unavailable, Broken):
            raise
        except Exception as e:  # noqa: BLE001 - the framework imported but cannot build its objects
            raise Broken(self.name, type(e).__name__, str(e), stage="build") from e
        adapter.device = placement
        return adapter

    def family(self, backend: str | None = None) -> str:
        """The framework family whose device helper places this adapter: torch, jax, tensorflow or
        ``keras-<backend>`` (``backend``: the loaded adapter's, where the registry has none)."""
        if self.framework == "keras":
            return f"keras-{self.backend or backend}"
        if self.framework in ("torch", "jax"):
            return self.framework
        if self.framework == "flax":
            return "jax"
        if self.framework == "tf_keras":
            return "tensorflow"
        return self.framework

    def placement(self, device: str, backend: str | None = None):
        """This adapter's ``adapters.device.Placement`` for ``device`` (``Unavailable`` if absent)."""
        from . import device as dev

        request = dev.normalize(device)
        family = self.family(backend)
        if family.startswith("keras-"):
            return dev.keras_placement(self.name, family.split("-", 1)[1], request)
        helper = {"torch": dev.torch_placement, "jax": dev.jax_placement,
                  "tensorflow": dev.tensorflow_placement}.get(family)
        if helper is None:
            if request != "cpu":
                raise Unavailable(f"{self.name}: device {request} is not available: no device helper for {family}")
            return dev.CPU
        return helper(self.name, request)


def _module_spec(module: str):
    """``find_spec(module)``, or a marker object when finding it raises (a module in ``sys.modules``
    without a spec, a finder that fails): something is there, so it is not "not installed"."""
    try:
        return importlib.util.find_spec(module)
    except Exception:  # noqa: BLE001 - present but odd: let the import say what is wrong
        return _PRESENT


_PRESENT = object()

#: Distributions that install an importable module under another name (or under several names).
_MODULE_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel"),
    "tf_keras": ("tf-keras",),
}


def module_distribution(module: str) -> tuple[str, str] | None:
    """``(distribution, version)`` of an installed distribution that provides ``module``, else None."""
    for dist in _MODULE_DISTRIBUTIONS.get(module, (module,)):
        try:
            return dist, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


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
_LOADED: dict[tuple[str, str], Adapter | Unavailable | Broken] = {}


def discover() -> list[AdapterInfo]:
    return list(_REGISTRY.values())


def get(name: str) -> AdapterInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"target: unknown adapter {name!r}; known: {', '.join(_REGISTRY)}") from None


def register(info: AdapterInfo, adapter: Adapter | None = None) -> None:
    """Add an adapter at run time (``--bn-impl``), optionally already built (``ContractError`` if it
    lists an op without its method)."""
    if adapter is not None:
        contract.check(adapter)
    _REGISTRY[info.name] = info
    for key in [k for k in _LOADED if k[0] == info.name]:
        del _LOADED[key]
    if adapter is not None:
        from . import device as dev

        request = dev.selected()
        try:
            if adapter.device is None:
                adapter.device = info.placement(request, adapter.backend)
        except Unavailable as e:  # no such device here: its tests skip with the reason
            _LOADED[(info.name, request)] = e
        else:
            _LOADED[(info.name, request)] = adapter


def load(name: str, device: str | None = None) -> Adapter:
    """The loaded adapter (cached per device), placed on ``device`` (None: the process's device,
    ``adapters.device.selected()``: ``--device``, ``$BNCONFORM_DEVICE``, else cpu); raises
    ``Unavailable`` (not installed, or no such device here: skip) or ``Broken`` (installed but
    failing: an error) with the reason, the same on every call."""
    from . import device as dev

    key = (name, dev.normalize(device) if device is not None else dev.selected())
    if key not in _LOADED:
        try:
            _LOADED[key] = get(name).load(key[1])
        except (Unavailable, Broken) as e:
            _LOADED[key] = e
    result = _LOADED[key]
    if isinstance(result, Broken):
        raise result.again()
    if isinstance(result, Unavailable):
        raise result
    return result


def imported(name: str) -> dict | None:
    """What was actually imported for a loaded target: ``{"framework", "version", "backend",
    "backend_version"}`` from the modules' ``__version__`` (``adapter.describe()``); None when the
    target was not loaded in this process (or failed to); ``ValueError`` for an unknown target.
    Compare :func:`describe`, which reads the distributions' metadata without importing."""
    get(name)
    from . import device as dev

    result = _LOADED.get((name, dev.selected()))
    if not isinstance(result, Adapter):
        return None
    return dict(result.describe())


def device_of(name: str) -> dict:
    """``{"platform", "name"}`` of the device a target ran on in this process: its loaded adapter's
    placement, else the device asked for with ``name`` None (not loaded: no framework said which)."""
    from . import device as dev

    request = dev.selected()
    result = _LOADED.get((name, request))
    if isinstance(result, Adapter):
        return result.device_record()
    return {"platform": request, "name": None}


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
