"""Kernel configurations: the CPU kernel paths a framework engine takes, by name.

A framework picks its CPU kernels by the machine's instruction sets and by switches that exist to
reproduce other CPUs on one machine. A *kernel configuration* is a named set of those switches for
one engine; ``--kernels NAME`` (and ``BNCONFORM_KERNELS``) runs the suite under it, and every record
names the configuration it ran under, so that a verdict says which kernel path produced it.

``default`` is no switch at all: the path this machine's CPU selects. It is not a path of its own:
:mod:`bnconform.adapters.kernel_paths` measures which named configuration the machine's default *is* (oneDNN
on or off for TensorFlow, the ATen capability for PyTorch) and records that name, so a known
deviation scoped to ``kernels = "onednn-off"`` explains the same kernel whether it was reached by the
switch or by a CPU whose default it is.

Each configuration states how it is selected (``env``: variables set before the framework is
imported; ``torch_mkldnn``: PyTorch's in-process oneDNN switch) and what must be measured for it to
count as honoured (``bnconform.adapters.kernel_paths``): a switch that did not take effect is a skip with the
measured reason, never a silent run of the default path under another name.

The configurations themselves are rows of their engine's record (``bnconform.engines``, e.g.
``torch_engine.KERNELS``): this module collects them by name and imports no framework.
"""

from __future__ import annotations

from bnconform import engines
from bnconform.engines.base import Config

__all__ = ["ENV", "DEFAULT", "ALL", "Config", "CONFIGS", "ENGINES", "UsageError", "configs", "names", "get",
           "for_engine", "check", "expand", "cpu_flags"]

ENV = "BNCONFORM_KERNELS"
DEFAULT = "default"
ALL = "all"


class UsageError(ValueError):
    """An unknown configuration name (a usage error, asked on the command line or by env)."""


def configs() -> tuple[Config, ...]:
    """Every named configuration, engine by engine (``bnconform.engines``, registered ones included),
    in the order ``--kernels all`` runs them."""
    return tuple(config for engine in engines.all_engines() for config in engine.kernels)


#: the configurations of the engines the suite ships (:func:`configs` also has those registered later)
CONFIGS: tuple[Config, ...] = configs()

#: the shipped engines that declare kernel configurations
ENGINES = tuple(dict.fromkeys(c.engine for c in CONFIGS))


def names() -> tuple[str, ...]:
    """Every name ``--kernels`` takes: ``default``, each configuration, ``all``."""
    return (DEFAULT, *(c.name for c in configs()), ALL)


def get(name: str) -> Config:
    """The configuration ``name`` (``UsageError`` naming the known ones; ``default`` has no record)."""
    for config in configs():
        if config.name == name:
            return config
    raise UsageError(f"--kernels: unknown kernel configuration {name!r}; known: {', '.join(names())}")


def for_engine(engine: str | None) -> tuple[Config, ...]:
    """The configurations of ``engine`` (none for an engine that declares no switch, e.g. jax, and
    for None: a target whose engine only its loaded adapter says; ``bnconform.engines.UnknownEngine``
    for a name that is no engine)."""
    return () if engine is None else engines.get(engine).kernels


def check(name: str | None) -> str:
    """``name`` (None or empty: ``default``) if it is ``default`` or a configuration; ``UsageError``
    otherwise (``all`` is for ``bnconform run``, which expands it per family)."""
    name = (name or DEFAULT).strip()
    if name == ALL:
        raise UsageError("--kernels all runs every configuration, each in a process of its own: it is for "
                         "bnconform run; pytest and bnconform replay take one configuration")
    if name != DEFAULT:
        get(name)
    return name


def expand(requested: list[str] | None, engine: str | None) -> list[str]:
    """The configurations a family of ``engine`` runs for ``--kernels`` ``requested`` (None: just
    ``default``): ``all`` is default and every configuration of the engine; a named configuration of
    another engine does not apply to this family."""
    wanted = list(requested or [DEFAULT])
    for name in wanted:
        if name != ALL:
            check(name)
    out: list[str] = []
    for name in wanted:
        chosen = [DEFAULT, *(c.name for c in for_engine(engine))] if name == ALL else [name]
        for one in chosen:
            if (one == DEFAULT or get(one).engine == engine) and one not in out:
                out.append(one)
    return out


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str] | None:
    """Every flag of the first CPU in ``cpuinfo`` (x86 ``flags``, Arm ``Features``); None where the
    file cannot be read (not Linux)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        return None
    return set()
