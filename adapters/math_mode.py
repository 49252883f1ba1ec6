"""The float32 math mode of a framework on its device: read from its settings, and measured.

On NVIDIA GPUs since Ampere, float32 convolutions and matrix products may run on tensor cores in
TF32: each float32 input is rounded to 10 mantissa bits (unit roundoff 2^-11 instead of 2^-24)
before the products, which are then summed in float32. Whether that happens by default is each
framework's choice:

- PyTorch: ``torch.backends.cudnn.allow_tf32`` (convolutions; True by default),
  ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.get_float32_matmul_precision()`` (matrix
  products; "highest" by default, i.e. no TF32);
- JAX: ``jax.config.jax_default_matmul_precision`` (None: the backend's default, which on a GPU
  allows TF32 for both convolutions and dot products; "highest": full float32);
- TensorFlow: ``tf.config.experimental.tensor_float_32_execution_enabled()`` (True by default).

The settings say what is allowed; :func:`measure` says what happens. It runs a float32 1x1
convolution through the adapter, on the adapter's device, with x = 1 + 2^-20 and w = 1 + 2^-20:
in float32 the product is 1 + 2^-19 (+ 2^-40, rounded away), in TF32 both inputs round to 1 and the
product is 1. So the output reads ``"float32"`` (1 + 2^-19), ``"tf32"`` (1) or ``"other"``.

:func:`full_float32` is the context in which the framework must compute in full float32 (PyTorch's
``allow_tf32 = False`` and "highest"; JAX's ``default_matmul_precision("highest")``; TensorFlow's
TF32 execution disabled): the suite checks the default, which users get, and full float32, which
must conform. A reduced-precision default is a deviation, modelled by the ``tf32_inputs`` variant.
"""

from __future__ import annotations

import contextlib

import numpy as np

DELTA = 2.0 ** -20  # below TF32's 10 mantissa bits, within float32's 23
FLOAT32_READING = (1.0 + DELTA) * (1.0 + DELTA)  # 1 + 2^-19 + 2^-40, exact in float64
FLOAT32_EXPECTED = float(np.float32(FLOAT32_READING))  # 1 + 2^-19: what float32 returns
TF32_EXPECTED = 1.0


def family(adapter) -> str:
    """The framework whose settings govern the adapter: torch, jax or tensorflow, the registry's
    ``engine`` of its target (:mod:`adapters.registry`); for a target without one (a Keras class
    given with ``--bn-impl``) the loaded adapter's backend, else its framework."""
    from . import _REGISTRY

    info = _REGISTRY.get(adapter.name)
    return (info.engine if info is not None else None) or adapter.backend or adapter.framework


def settings(name: str) -> dict:
    """The framework's float32 math-mode settings now (``name``: torch, jax or tensorflow)."""
    if name == "torch":
        import torch

        return {"torch.backends.cudnn.allow_tf32": bool(torch.backends.cudnn.allow_tf32),
                "torch.backends.cuda.matmul.allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
                "torch.get_float32_matmul_precision()": torch.get_float32_matmul_precision()}
    if name == "jax":
        import jax

        return {"jax_default_matmul_precision": jax.config.jax_default_matmul_precision}
    if name == "tensorflow":
        import tensorflow as tf

        return {"tensor_float_32_execution_enabled": bool(tf.config.experimental.tensor_float_32_execution_enabled())}
    return {}


@contextlib.contextmanager
def full_float32(name: str):
    """Inside: the framework computes float32 convolutions and products in full float32; the
    previous settings are restored on exit."""
    if name == "torch":
        import torch

        saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
                 torch.get_float32_matmul_precision())
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved[:2]
            torch.set_float32_matmul_precision(saved[2])
    elif name == "jax":
        import jax

        with jax.default_matmul_precision("highest"):
            yield
    elif name == "tensorflow":
        import tensorflow as tf

        saved = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(saved)
    else:
        yield


def measure(adapter) -> dict:
    """Run the 1x1 probe convolution through ``adapter`` on its device: ``{"value": "float32" |
    "tf32" | "other" | None, "evidence", "reading"}`` (None: the adapter offers no conv2d)."""
    from bnconform.cases import ConvCase, ConvInputs

    if "conv2d" not in adapter.capabilities.ops:
        return {"value": None, "evidence": f"{adapter.name} offers no conv2d"}
    case = ConvCase(x_shape=(1, 1, 1, 1), c_out=1, kernel=(1, 1), dtype="float32")
    one = np.full((1, 1, 1, 1), 1.0 + DELTA)
    with adapter.placed():
        y = float(np.asarray(adapter.conv2d(case, ConvInputs(x=one, w=one.copy(), b=None))).reshape(-1)[0])
    value = "float32" if y == FLOAT32_EXPECTED else "tf32" if y == TF32_EXPECTED else "other"
    return {"value": value, "reading": y,
            "evidence": f"float32 1x1 conv of x = w = 1 + 2^-20 -> {y!r} (float32 {FLOAT32_EXPECTED!r}, tf32 1.0)"}


def probe(adapter) -> dict:
    """The adapter's float32 math mode on its device: the settings, what the default measures and
    what :func:`full_float32` measures."""
    name = family(adapter)
    found = {"device": adapter.device_record(), "settings": settings(name)}
    for mode, context in (("default", contextlib.nullcontext), ("full_float32", lambda: full_float32(name))):
        try:
            with context():
                found[mode] = measure(adapter)
        except Exception as e:  # noqa: BLE001 - a probe's failure is itself a finding
            found[mode] = {"value": None, "evidence": f"{type(e).__name__}: {e}"}
    return found
