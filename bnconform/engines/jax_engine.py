"""The JAX engine (jax, Flax linen and nnx, Keras 3 on jax): its record, :data:`ENGINE`.

Placement: ``jax.default_device`` (new arrays and ``device_put`` go there; jitted functions run
where their arguments are). Math mode: ``jax.config.jax_default_matmul_precision`` (None: the
backend's default, which on a GPU allows TF32; "highest": full float32). Determinism:
``--xla_gpu_deterministic_ops=true`` in ``XLA_FLAGS`` is read back, not set (XLA refuses
select-and-scatter, the max-pool gradient, under it). Threads: XLA's CPU thread pool is fixed by
``XLA_FLAGS`` before the import. No named kernel configuration (XLA_FLAGS is recorded).
"""

from __future__ import annotations

import contextlib
import os
from typing import Mapping

import numpy as np

from .base import Engine, Placement, Unavailable

NAME = "jax"


def placement(target: str, request: str) -> Placement:
    import jax

    platform = "cpu" if request == "cpu" else "gpu"
    try:
        devices = jax.devices(platform)
    except RuntimeError as e:  # "Unknown backend gpu" / "backend 'cpu' failed to initialize"
        raise Unavailable(f"{target}: device {request} is not available: jax {jax.__version__}: {e}") from None
    if not devices:
        raise Unavailable(f"{target}: device {request} is not available: jax {jax.__version__} lists no {platform} device")
    dev = devices[0]
    name = "cpu" if platform == "cpu" else f"{dev.platform}:{dev.id} {getattr(dev, 'device_kind', '')}".strip()
    return Placement(request, platform, name, lambda: jax.default_device(dev))


def math_settings() -> dict:
    import jax

    return {"jax_default_matmul_precision": jax.config.jax_default_matmul_precision}


@contextlib.contextmanager
def full_float32():
    """Full float32 products for the block: ``default_matmul_precision("highest")``; releases that
    do not know that name (jax 0.4.23, Keras 3.0's, accepts only 'bfloat16', 'tensorfloat32' and
    'float32') call the same precision "float32". The name is checked when the scope is entered."""
    import jax

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(jax.default_matmul_precision("highest"))
        except ValueError:
            stack.enter_context(jax.default_matmul_precision("float32"))
        yield


def matmul(a, request: str):
    import jax
    import jax.numpy as jnp

    t = jax.device_put(a, jax.devices("cpu" if request == "cpu" else "gpu")[0])
    return np.asarray(jnp.matmul(t, t))


def determinism() -> dict:
    return {"xla_gpu_deterministic_ops": "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", "")}


def thread_environment(threads: int, env: Mapping[str, str]) -> dict[str, str]:
    """XLA's CPU threads, appended to ``XLA_FLAGS`` unless the user set them there."""
    xla = env.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" in xla:
        return {}
    multi = "true" if threads > 1 else "false"
    return {"XLA_FLAGS": f"{xla} --xla_cpu_multi_thread_eigen={multi} intra_op_parallelism_threads={threads}".strip()}


ENGINE = Engine(
    name=NAME,
    distributions=("jax", "jaxlib"),
    placement=placement,
    math_settings=math_settings,
    full_float32=full_float32,
    matmul=matmul,
    determinism=determinism,
    deterministic_setting="xla_gpu_deterministic_ops",
    keras_backend="jax",
    thread_environment=thread_environment,
    kernel_settings=("XLA_FLAGS",),
)
