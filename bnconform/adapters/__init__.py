"""Framework adapters, discovered at run time.

``discover()`` lists every adapter the suite knows, installed or not, without importing any
framework; ``load(name)`` imports one and returns its ``Adapter``. The targets and their facts
(family, engine, trainer) are one table, :data:`bnconform.adapters.registry.TARGETS`.

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

from . import contract
from .base import Adapter, BNRun, Broken, Capabilities, Conventions, DefaultRun, LayerState, Unavailable
from .contract import ContractError
from .registry import TARGETS, AdapterInfo, distribution_version, families, module_distribution

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
    "distribution_version",
    "families",
    "get",
    "imported",
    "kernels_of",
    "load",
    "module_distribution",
    "register",
]

#: the known targets by name: :data:`bnconform.adapters.registry.TARGETS`, plus any ``register``-ed at run time
_REGISTRY: dict[str, AdapterInfo] = {info.name: info for info in TARGETS}
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
    ``bnconform.adapters.device.selected()``: ``--device``, ``$BNCONFORM_DEVICE``, else cpu); raises
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


def kernels_of(name: str) -> dict | None:
    """The CPU kernel path ``name``'s engine takes in this process (``bnconform.adapters.kernel_paths``,
    measured once per engine, importing it), as a dict; None for an engine without kernel
    configurations (jax) or a target whose engine only its loaded adapter says (a Keras class
    given with ``--bn-impl``); ``bnconform.engines.UnknownEngine`` for an engine without a record."""
    from bnconform import engines

    from . import kernel_paths

    engine = get(name).engine
    if engine is None or not engines.get(engine).kernels:
        return None
    return kernel_paths.resolve(engine).as_dict()


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
