"""What the JAX-based adapters share (``bnconform.adapters.jax_adapter``, the ``jax`` target, and
``bnconform.adapters.flax_adapter``): the scoped 64-bit mode, conversions, the reference's padding and layout in
lax terms, waited-for bare calls, and a compile counter.

float64 needs ``jax_enable_x64``. Rather than switching it on for the whole process (Keras on the
JAX backend runs in the same pytest process and must keep JAX's default), every call runs inside
``jax.enable_x64(dtype == "float64")`` -- JAX's thread-local context manager, part of the jit cache
key -- so float64 cases get 64-bit arithmetic and every other dtype runs in JAX's default mode, as
users get it, whatever the process-wide setting. Releases before it moved to the top level (jax
0.4.23, the release Keras 3.0 installs with) offer the same context manager as
``jax.experimental.enable_x64``: :func:`enable_x64` finds whichever the installed jax has.
"""

from __future__ import annotations

import contextlib
import threading

import jax
import numpy as np

from bnconform import dtypes
from bnconform.reference import _checks
from bnconform.reference.windows import parse_padding

DTYPES = dtypes.DTYPES  # float16, bfloat16, float32, float64 (the last under enable_x64)


def enable_x64(on: bool):
    """JAX's scoped 64-bit mode, ``on`` or off for the block: ``jax.enable_x64`` where the installed
    jax has it, else ``jax.experimental.enable_x64`` (its name in older releases, same signature)."""
    scope = getattr(jax, "enable_x64", None)
    if scope is None:
        from jax.experimental import enable_x64 as scope
    return scope(bool(on))


def x64_scope(dtype: str):
    """The precision mode a case runs in: 64-bit for float64 cases, JAX's default otherwise."""
    return enable_x64(dtypes.check(dtype) == "float64")


def as_input(a: np.ndarray, dtype: str) -> np.ndarray:
    """A NumPy array in the case's dtype (values are already representable: the cast is exact)."""
    return np.asarray(a, np.float64).astype(dtypes.numpy_dtype(dtype))


def as_float64(a) -> np.ndarray:
    return np.asarray(a).astype(np.float64)


def padding_arg(padding):
    """The reference's padding (validated by ``bnconform.reference.windows.parse_padding``) in lax terms:
    "VALID", "SAME" or ((top, bottom), (left, right))."""
    parsed = parse_padding(padding)
    return parsed.upper() if isinstance(parsed, str) else parsed


def layout(data_format: str) -> str:
    """lax's name for a data format (validated by ``bnconform.reference._checks.data_format``)."""
    return "NHWC" if _checks.data_format(data_format) == "channels_last" else "NCHW"


def bare(dtype: str, call):
    """``call`` in the case's precision mode, waited for (JAX dispatches asynchronously)."""

    def run():
        with x64_scope(dtype):
            return jax.block_until_ready(call())

    return run


COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_compile_lock = threading.Lock()


@contextlib.contextmanager
def count_compiles():
    """Count XLA backend compilations inside the block (JAX's monitoring event, one per compile).

    Yields a list that receives the name of each compiled function, e.g. ``["jit(_conv)"]``.
    """
    names: list[str] = []

    def listener(event, duration, **kwargs):
        if event == COMPILE_EVENT:
            names.append(str(kwargs.get("fun_name")))

    with _compile_lock:
        jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield names
    finally:
        with _compile_lock:
            jax.monitoring.unregister_event_duration_listener(listener)
