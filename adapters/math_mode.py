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

The settings say what is allowed; :func:`measure` says what happens, at a size that takes the
tensor-core path (a convolution too small for it computes in float32 whatever the settings: the
issue that added this probe saw the suite's small convolutions pass on an H200 while an
(8, 16, 16, 64) 'same' convolution with 64 3x3 filters broke the float32 bound). It runs that
convolution through the adapter, on the adapter's device, with every input x = w = 1 + 2^-12: TF32
(10 mantissa bits; rounding to nearest or truncating) turns each input into 1, so every product is
1 and each output is its count of terms T (256, 384 or 576: exact in float32); float32 keeps the
inputs, and each output is T (1 + 2^-12)^2 = T (1 + 2^-11 + 2^-24). So the excess of each output
over T, in units of T 2^-11, is the *float32 fraction* r: 1 in float32, 0 in TF32 (or anything that
keeps fewer than 12 mantissa bits). Float32's rounding moves r by at most gamma_T T / 2^-11 (576^2 u
/ 0.28 <= 0.07 by the worst-case bound), far from the 0.5 that separates the two. The output
reads ``"float32"`` (every r within 0.5 of 1), ``"tf32"`` (every r within 0.5 of 0) or ``"other"``.

:func:`full_float32` is the context in which the framework must compute in full float32 (PyTorch's
``allow_tf32 = False`` and "highest"; JAX's ``default_matmul_precision("highest")``; TensorFlow's
TF32 execution disabled): the suite checks the default, which users get, and full float32, which
must conform. A reduced-precision default is a deviation, modelled by the ``tf32_inputs`` variant.
"""

from __future__ import annotations

import contextlib

import numpy as np

DELTA = 2.0 ** -12  # below TF32's 10 mantissa bits (and its half ulp, 2^-11), within float32's 23
EXCESS = 2.0 * DELTA  # (1 + DELTA)^2 = 1 + 2^-11 + 2^-24: the float32 product's excess over 1, to first order
X_SHAPE = (8, 16, 16, 64)  # channels last; 64 filters of 3 x 3, 'same' padding (the measurement)
C_OUT = 64
FRACTION_BAND = 0.5  # |r - 1| < band: float32; |r| < band: tf32


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


def terms(x_shape=X_SHAPE, kernel=(3, 3)) -> np.ndarray:
    """T: the number of products in each output of the 'same' convolution (N, H, W) of stride 1,
    counted as the kernel positions that fall inside the image, times the input channels."""
    _, h, w, c = x_shape
    kh, kw = kernel

    def inside(size, k):  # per output position: how many of the k taps land in [0, size)
        pad = (k - 1) // 2
        return np.array([sum(0 <= i - pad + t < size for t in range(k)) for i in range(size)])

    per_image = np.outer(inside(h, kh), inside(w, kw)) * c
    return np.broadcast_to(per_image, x_shape[:3])


def measure(adapter) -> dict:
    """Run the probe convolution through ``adapter`` on its device: ``{"value": "float32" | "tf32" |
    "other" | None, "reading", "evidence"}``, the reading being the median float32 fraction r
    (None: the adapter offers no conv2d)."""
    from bnconform.cases import ConvCase, ConvInputs

    if "conv2d" not in adapter.capabilities.ops:
        return {"value": None, "evidence": f"{adapter.name} offers no conv2d"}
    case = ConvCase(x_shape=X_SHAPE, c_out=C_OUT, kernel=(3, 3), padding="same", dtype="float32")
    x = np.full(X_SHAPE, 1.0 + DELTA)
    w = np.full(case.w_shape, 1.0 + DELTA)
    with adapter.placed():
        y = np.asarray(adapter.conv2d(case, ConvInputs(x=x, w=w, b=None)), dtype=np.float64)
    count = terms()[..., None]
    r = (y - count) / (count * EXCESS)
    if np.all(np.abs(r - 1) < FRACTION_BAND):
        value = "float32"
    elif np.all(np.abs(r) < FRACTION_BAND):
        value = "tf32"
    else:
        value = "other"
    reading = float(np.median(r))
    return {"value": value, "reading": reading,
            "evidence": (f"float32 conv {X_SHAPE} * ({C_OUT}, 3, 3) 'same' of x = w = 1 + 2^-12: float32 fraction "
                         f"r = (y - T) / (T 2^-11) from {float(np.min(r)):.6g} to {float(np.max(r)):.6g}, median "
                         f"{reading:.6g} (float32 1, tf32 0)")}


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
