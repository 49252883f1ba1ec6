"""Who is behind a test target: framework, version and Keras backend.

The adapters package owns the answer (``adapters.describe(target)``); this module only
adds a fallback so that results can be written before (or without) it: the target's own
name as the framework and an unknown version.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["describe"]


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
