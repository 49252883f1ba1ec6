"""Who is behind a test target: framework, version, Keras backend and device, for the results plugin.

``reports`` imports no framework and no adapter (a report renders on a machine without either):
the answers come from whoever runs the tests, which hands this module the adapters' lookups with
:func:`provide` (the project's root ``conftest.py`` gives it ``bnconform.adapters.describe``,
``bnconform.adapters.imported`` and ``bnconform.adapters.device_of``). Until then, or where a lookup fails, each
function falls back to what can be said without them: the target's own name as the framework, an
unknown version, nothing imported, the cpu. The report and the gate read all of it back from the
results files, never from here.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

__all__ = ["describe", "device", "imported", "kernels", "kernels_for_dtype", "provide"]

_LOOKUPS: dict[str, Callable[[Any], Any]] = {}


def provide(*, describe: Callable[[str], dict], imported: Callable[[str], dict | None],
            device: Callable[[str | None], dict], kernels: Callable[[str], dict | None] | None = None) -> None:
    """Install the lookups: ``describe(target)`` (``{"framework", "version", "backend",
    "backend_version"}`` from the distributions' metadata), ``imported(target)`` (what the process
    imported, None when not loaded; ValueError for an unknown target) and ``device(target)``
    (``{"platform", "name"}`` the target ran on; None: the device asked for) and ``kernels(target)``
    (the kernel path its engine measured, ``bnconform.adapters.kernel_paths.Path.as_dict()``; None: none)."""
    _LOOKUPS.update(describe=describe, imported=imported, device=device)
    if kernels is not None:
        _LOOKUPS["kernels"] = kernels
    _describe.cache_clear()


def describe(target: str) -> dict[str, Any]:
    """``{"framework", "version", "backend", "backend_version"}`` for ``target`` (cached)."""
    return dict(_describe(target))


@functools.lru_cache(maxsize=None)
def _describe(target: str) -> dict[str, Any]:
    lookup = _LOOKUPS.get("describe")
    if lookup is None:
        return _fallback(target)
    try:
        info = dict(lookup(target))
    except Exception:  # noqa: BLE001 - an unknown target must not stop the results
        return _fallback(target)
    return {"framework": info.get("framework") or target,
            "version": info.get("version"),
            "backend": info.get("backend"),
            "backend_version": info.get("backend_version")}


def _fallback(target: str) -> dict[str, Any]:
    return {"framework": target, "version": None, "backend": None, "backend_version": None}


def imported(target: str) -> dict[str, Any] | None:
    """``{"version", "backend_version"}`` as imported by ``target`` in this process (the modules'
    ``__version__``; both None while it is not loaded: not yet, not installed, or broken), or None
    when no lookup was provided or it does not know ``target`` (nothing to say)."""
    lookup = _LOOKUPS.get("imported")
    if lookup is None:
        return None
    try:
        info = lookup(target)
    except Exception:  # noqa: BLE001 - an unknown target (ValueError), an odd adapter: nothing to say
        return None
    info = info or {}
    return {"version": _text(info.get("version")), "backend_version": _text(info.get("backend_version"))}


def device(target: str | None) -> dict[str, Any]:
    """``{"platform", "name"}`` of the device ``target`` ran on (None: the device asked for); the cpu
    when no lookup was provided or it fails."""
    lookup = _LOOKUPS.get("device")
    try:
        return dict(lookup(target)) if lookup is not None else {"platform": "cpu", "name": None}
    except Exception:  # noqa: BLE001 - a bad $BNCONFORM_DEVICE: the record still gets written
        return {"platform": "cpu", "name": None}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)  # torch.__version__ is a str subclass


def kernels(target: str | None) -> dict[str, Any] | None:
    """The kernel path ``target``'s engine took (``{"engine", "asked", "name", "state", "honoured",
    "reason"}``), or None: no lookup, no target, an engine without kernel configurations, or a
    framework that cannot be imported (its tests say why)."""
    lookup = _LOOKUPS.get("kernels")
    if lookup is None or target is None:
        return None
    try:
        found = lookup(target)
    except Exception:  # noqa: BLE001 - a broken framework: its records still get written
        return None
    return dict(found) if found else None


def kernels_for_dtype(path: dict[str, Any], dtype: str | None) -> str | None:
    """The kernel path a ``dtype`` computation took under ``path`` (:func:`kernels`): its ``dtypes``
    entry where the configuration serves that dtype on another path, else its ``name``."""
    return (path.get("dtypes") or {}).get(str(dtype), path.get("name"))
