"""Who is behind a test target: framework, version and Keras backend.

The adapters package owns the answer (``adapters.describe(target)``, from the distributions'
metadata, and ``adapters.imported(target)``, from the modules a loaded target imported); this
module only adds a fallback so that results can be written before (or without) it: the target's
own name as the framework and an unknown version.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

__all__ = ["describe", "imported"]


@functools.lru_cache(maxsize=None)
def describe(target: str) -> dict[str, Any]:
    """``{"framework", "version", "backend", "backend_version"}`` for ``target`` (cached)."""
    try:
        from adapters import describe as adapters_describe  # the real resolver
    except ImportError:
        return _fallback(target)
    try:
        info = dict(adapters_describe(target))
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
    when the adapters package does not know ``target`` (nothing to say). Looks only at an
    ``adapters`` package already imported: none imported means no target was loaded."""
    module = sys.modules.get("adapters")
    lookup = getattr(module, "imported", None)
    if lookup is None:
        try:
            from adapters import imported as lookup  # the package exists but nothing imported it yet
        except ImportError:
            return None
    try:
        info = lookup(target)
    except Exception:  # noqa: BLE001 - an unknown target (ValueError), an odd adapter: nothing to say
        return None
    info = info or {}
    return {"version": _text(info.get("version")), "backend_version": _text(info.get("backend_version"))}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)  # torch.__version__ is a str subclass
