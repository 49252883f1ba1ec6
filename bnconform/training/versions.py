"""Versions of the packages a record depends on (imported already, so this costs nothing)."""

from __future__ import annotations

import importlib


def package_versions(names) -> dict:
    out = {}
    for name in names:
        module = importlib.import_module(name)
        version = getattr(module, "__version__", None)
        if version is None and name == "jaxlib":
            version = importlib.import_module("jaxlib.version").__version__
        out[name] = str(version)
    return out
