"""The CPU kernel path an engine takes in this process: ``--kernels`` applied, then measured.

:func:`select` applies a configuration of :mod:`bnconform.engines.kernels` before any framework is imported
(its environment variables; the root ``conftest.py`` and ``bnconform replay`` call it first thing).
:func:`resolve` then imports the engine, applies what is set in-process (PyTorch's oneDNN switch)
and *measures* which path the engine took:

each engine's record (``bnconform.engines``: ``measure_kernels`` and ``kernel_path``) says how:

- torch: ``torch.backends.cpu.get_cpu_capability()`` (the ATen kernels: AVX512, AVX2, DEFAULT) and
  the backend ``torch._C._select_conv_backend`` picks for a float32 (8, 16, 16, 16) 3x3 convolution
  (``Mkldnn`` with oneDNN on, ``Slow2d`` with it off);
- tensorflow: ``IsMklEnabled()`` of TensorFlow's ``_pywrap_util_port`` (oneDNN's kernels on or off,
  as TensorFlow decided from ``TF_ENABLE_ONEDNN_OPTS`` and the CPU).

The measured state names a configuration (:func:`path_name`); that name is what every record
carries as ``kernels``, so a run under ``default`` says which path this CPU's default is. A
configuration asked for counts as honoured only when the measurement names it, and the CPU has the
instruction sets it needs (PyTorch reports ``AVX512`` under ``ATEN_CPU_CAPABILITY=avx512`` on a CPU
without AVX-512, measured on an AMD EPYC with AVX2 only, so the CPU flags are checked too);
otherwise :class:`Path` says why, and the conformance tests of that engine are skipped with it.

``python -m bnconform.adapters.kernel_paths ENGINE [CONFIG]`` prints the :class:`Path` as JSON (what
``bnconform run`` reads to tell which configurations are this machine's default).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from bnconform import engines
from bnconform.engines import kernels
from bnconform.engines.kernels import cpu_flags

__all__ = ["Path", "select", "selected", "resolve", "measure", "path_name", "cpu_flags"]

_selected: str | None = None


def select(name: str | None) -> str:
    """Apply ``name`` (None: ``$BNCONFORM_KERNELS``, else ``default``) for this process: set its
    environment variables (over any the user set: the configuration decides); ``UsageError`` for an
    unknown name. Call before the engine is imported: :func:`resolve` tells if it was too late."""
    global _selected
    name = kernels.check(name if name is not None else os.environ.get(kernels.ENV))
    if name != kernels.DEFAULT:
        os.environ.update(kernels.get(name).env)
    os.environ[kernels.ENV] = name  # child processes (the probe, Keras's own) take the same path
    _selected = name
    resolve.cache_clear()
    return name


def selected() -> str:
    """The configuration asked for in this process (``default`` if none)."""
    return _selected if _selected is not None else kernels.check(os.environ.get(kernels.ENV))


@dataclass(frozen=True)
class Path:
    """What an engine's kernels are in this process: ``asked`` (the configuration requested for this
    engine, ``default`` when the request is another engine's), ``name`` (the configuration the
    measurement names, None where nothing could be measured), ``state`` (the measurements),
    ``honoured`` and, if not, ``reason``; ``dtypes``: the path each dtype takes where that is not
    ``name`` (TensorFlow's oneDNN serves only the dtypes the CPU supports: ``Config.dtype_flags``)."""

    engine: str | None
    asked: str
    name: str | None
    state: dict[str, Any] = field(default_factory=dict)
    honoured: bool = True
    reason: str | None = None
    dtypes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(engine: str | None, config: kernels.Config | None = None) -> dict[str, Any]:
    """Import ``engine``, apply ``config``'s in-process switch, and measure its kernel state (its
    record's ``measure_kernels``; nothing for None)."""
    return {} if engine is None else engines.get(engine).measure_kernels(config)


def path_name(engine: str | None, state: dict[str, Any]) -> str | None:
    """The configuration the measured ``state`` is (None: this engine declares no configuration)."""
    return None if engine is None else engines.get(engine).kernel_path(state)


@functools.lru_cache(maxsize=None)
def resolve(engine: str | None) -> Path:
    """The kernel path ``engine`` takes in this process (measured once; imports the engine)."""
    asked = selected()
    config = kernels.get(asked) if asked != kernels.DEFAULT else None
    if config is not None and config.engine != engine:
        asked, config = kernels.DEFAULT, None
    state = measure(engine, config)
    name = path_name(engine, state)
    dtypes = _dtype_paths(name)
    if config is None:
        return Path(engine, asked, name, state, dtypes=dtypes)
    lacking = [flag for flag in config.cpu_flags if flag not in (cpu_flags() or set())]
    if lacking:
        return Path(engine, asked, name, state, False,
                    f"kernel configuration {asked} is not available on this CPU: it lacks {', '.join(lacking)} "
                    f"(measured: {_text(state)})")
    if name != asked:
        return Path(engine, asked, name, state, False,
                    f"kernel configuration {asked} did not take effect: measured {_text(state)}, which is "
                    f"{name} ({', '.join(f'{k}={v}' for k, v in config.env.items()) or 'in-process switch'} set "
                    "too late, or not honoured by this build)")
    return Path(engine, asked, name, state, dtypes=dtypes)


def _dtype_paths(name: str | None) -> dict[str, str]:
    """``{dtype: path}`` for the dtypes that take another path than ``name`` on this CPU."""
    from bnconform.dtypes import DTYPES

    try:
        config = kernels.get(str(name))
    except kernels.UsageError:
        return {}
    flags = cpu_flags() or set()
    paths = {dtype: config.for_dtype(dtype, flags) for dtype in DTYPES}
    return {dtype: path for dtype, path in paths.items() if path != name}


def _text(state: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in state.items()) or "nothing"


def main(argv: list[str] | None = None) -> int:
    """``python -m bnconform.adapters.kernel_paths ENGINE [CONFIG]``: the Path as one JSON line (exit 2: usage)."""
    argv = sys.argv[1:] if argv is None else argv
    if not 1 <= len(argv) <= 2:
        print("usage: python -m bnconform.adapters.kernel_paths ENGINE [CONFIG]", file=sys.stderr)
        return 2
    try:
        select(argv[1] if len(argv) == 2 else kernels.DEFAULT)
    except kernels.UsageError as e:
        print(f"python -m bnconform.adapters.kernel_paths: {e}", file=sys.stderr)
        return 2
    print(json.dumps(resolve(argv[0]).as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
