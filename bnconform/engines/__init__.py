"""The framework engines: one :class:`Engine` record per array library that computes.

``bnconform.adapters.registry``'s targets name their engine (``AdapterInfo.engine``); placement,
the math-mode probes, determinism, thread settings, kernel configurations, the Keras backend name
and the report's distributions are looked up here, never branched on by name elsewhere. Reading a
record imports no framework.

The engines are :data:`BUILTIN` (one module each, ``<name>_engine.py``), in the order reports list
them and ``--kernels all`` runs their configurations; :func:`register` adds one at run time (a
plugin, a test's toy engine). An engine that is not known is :class:`UnknownEngine`, naming it.
"""

from __future__ import annotations

from . import jax_engine, tensorflow_engine, torch_engine
from .base import CPU, Config, Engine, Placement, Unavailable, cpu_only

__all__ = ["BUILTIN", "CPU", "Config", "Engine", "Placement", "Unavailable", "UnknownEngine", "all_engines",
           "cpu_only", "get", "register", "unregister"]

#: the engines the suite ships, in this order (torch's kernel configurations before tensorflow's)
BUILTIN: tuple[Engine, ...] = (torch_engine.ENGINE, tensorflow_engine.ENGINE, jax_engine.ENGINE)

_ENGINES: dict[str, Engine] = {engine.name: engine for engine in BUILTIN}


class UnknownEngine(ValueError):
    """A target (or a caller) names an engine that has no record."""


def get(name: str | None) -> Engine:
    """The record of engine ``name``; :class:`UnknownEngine` naming it and the known ones otherwise."""
    try:
        return _ENGINES[name]  # type: ignore[index]
    except KeyError:
        raise UnknownEngine(f"unknown engine {name!r}; known: {', '.join(_ENGINES)} "
                            "(an engine is a bnconform.engines.Engine record: see docs/design.md)") from None


def all_engines() -> tuple[Engine, ...]:
    """Every known engine, the built-in ones first, then those registered, in registration order."""
    return tuple(_ENGINES.values())


def register(engine: Engine) -> None:
    """Add (or replace) an engine at run time: a plugin's or a test's engine module calls this with its record."""
    if not isinstance(engine, Engine):
        raise TypeError(f"register: an Engine record, not {type(engine).__name__}")
    _ENGINES[engine.name] = engine


def unregister(name: str) -> None:
    """Remove an engine registered at run time (a built-in one stays)."""
    if name not in {engine.name for engine in BUILTIN}:
        _ENGINES.pop(name, None)
