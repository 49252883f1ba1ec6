"""The float32 math mode of a framework on its device: read from its settings, and measured.

On NVIDIA GPUs since Ampere, float32 convolutions and matrix products may run on tensor cores in
TF32: each float32 input is rounded to 10 mantissa bits (unit roundoff 2^-11 instead of 2^-24)
before the products, which are then summed in float32. Whether that happens by default is each
framework's choice:

(each engine's record, :mod:`bnconform.engines`, reads and sets these):

- PyTorch: ``torch.backends.cudnn.allow_tf32`` (convolutions; True by default),
  ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.get_float32_matmul_precision()`` (matrix
  products; "highest" by default, i.e. no TF32);
- JAX: ``jax.config.jax_default_matmul_precision`` (None: the backend's default, which on a GPU
  allows TF32 for both convolutions and dot products; "highest": full float32);
- TensorFlow: ``tf.config.experimental.tensor_float_32_execution_enabled()`` (True by default).

The settings say what is allowed; :func:`measure` and :func:`measure_matmul` say what happens, at
a size that takes the tensor-core path (a convolution too small for it computes in float32 whatever
the settings: the issue that added these probes saw the suite's small convolutions pass on an H200
while an (8, 16, 16, 64) 'same' convolution with 64 3x3 filters broke the float32 bound). Both run
that float32 convolution, or a (512, 512) x (512, 512) product, with every input equal to
p = 1 + 2^-9 + 2^-12, exact in float32. An input format with b mantissa bits keeps
p_b = p rounded to b bits (to nearest or truncated, the same here): float32 (23 bits) keeps p, TF32
and float16 (10) keep 1 + 2^-9, bfloat16 (7) keeps 1. Each output is a sum of T equal products
(T = 256, 384 or 576 in the convolution, by position: the reference convolution of ones with
ones; 512 in the product), so its relative excess
e = y / T - 1 reads p_b^2 - 1: 2^-8 + 2^-11 + 2^-18 + 2^-20 (+ 2^-24) in float32, 2^-8 + 2^-18 in
TF32, 0 in bfloat16. Float32's rounding of the products and sums moves e by at most (T + 1) u
<= 3.5e-5 (the worst-case bound), less than a seventh of the 2^-12 within which a reading is
named; the nearest two formats lie 2^-11 apart. A probe reads ``"float32"``, ``"tf32"`` or
``"bfloat16"`` when every output does, else ``"other"``.

:func:`full_float32` is the context in which the framework must compute in full float32 (PyTorch's
``allow_tf32 = False`` and "highest"; JAX's ``default_matmul_precision("highest")``; TensorFlow's
TF32 execution disabled): the suite checks the default, which users get, and full float32, which
must conform. A reduced-precision default is a deviation, modelled by the ``tf32_inputs`` model.
"""

from __future__ import annotations

import contextlib

import numpy as np

from bnconform import devices, engines

PROBE = 1.0 + 2.0 ** -9 + 2.0 ** -12  # exact in float32; 1 + 2^-9 in 10 mantissa bits, 1 in 7
#: mantissa bits each named format keeps of an input (float16 keeps as many as TF32, and reads "tf32")
FORMATS = {"float32": 23, "tf32": 10, "bfloat16": 7}
BAND = 2.0 ** -12  # half the smallest distance between two formats' readings
X_SHAPE = (8, 16, 16, 64)  # channels last; 64 filters of 3 x 3, 'same' padding (the measurement)
C_OUT = 64
MATMUL_SIZE = 512  # (512, 512) x (512, 512): T = 512 products an output


def engine_of(adapter) -> str:
    """The engine whose settings govern the adapter (a :mod:`bnconform.engines` record's name): the
    registry's ``engine`` of its target (:mod:`bnconform.adapters.registry`); for a target without
    one (a Keras class given with ``--bn-impl``) the loaded adapter's backend, else its framework
    (which :func:`settings` then names as an unknown engine, if it is none)."""
    from . import _REGISTRY

    info = _REGISTRY.get(adapter.name)
    return (info.engine if info is not None else None) or adapter.backend or adapter.framework


def settings(name: str) -> dict:
    """The engine's float32 math-mode settings now (its record's ``math_settings``);
    ``bnconform.engines.UnknownEngine`` for a name without a record."""
    return engines.get(name).math_settings()


def full_float32(name: str):
    """A context inside which the engine computes float32 convolutions and products in full float32
    (its record's ``full_float32``); the previous settings are restored on exit."""
    return engines.get(name).full_float32()


def kept(bits: int) -> float:
    """:data:`PROBE` rounded to ``bits`` mantissa bits (nearest; truncation gives the same here)."""
    scale = 2.0 ** bits
    return float(np.round(PROBE * scale) / scale)


#: the relative excess e = y / T - 1 every output reads when the inputs keep each format's bits
EXPECTED = {name: kept(bits) ** 2 - 1 for name, bits in FORMATS.items()}


def terms(case) -> np.ndarray:
    """T: the number of products in each output of the convolution ``case``, the reference
    convolution (``bnconform.reference.conv2d``, its windows and padding) of ones with ones."""
    from bnconform import reference as R

    return R.conv2d(np.ones(case.x_shape), np.ones(case.w_shape), **case.conv_kwargs())


def classify(y, count, what: str) -> dict:
    """``{"value", "reading", "evidence"}`` of outputs ``y`` that are sums of ``count`` products of
    :data:`PROBE` by itself: the format every output's e = y / T - 1 reads, else ``"other"``; the
    reading is the median e."""
    e = np.asarray(y, dtype=np.float64) / count - 1
    value = next((name for name, want in EXPECTED.items() if np.all(np.abs(e - want) < BAND)), "other")
    reading = float(np.median(e))
    expected = ", ".join(f"{name} {want:.6g}" for name, want in EXPECTED.items())
    return {"value": value, "reading": reading,
            "evidence": f"{what} of inputs 1 + 2^-9 + 2^-12: e = y / T - 1 from {float(np.min(e)):.6g} to "
                        f"{float(np.max(e)):.6g}, median {reading:.6g} ({expected})"}


def measure(adapter) -> dict:
    """Run the probe convolution through ``adapter`` on its device (None: it offers no conv2d)."""
    from bnconform.cases import ConvCase, ConvInputs

    if "conv2d" not in adapter.capabilities.ops:
        return {"value": None, "evidence": f"{adapter.name} offers no conv2d"}
    case = ConvCase(x_shape=X_SHAPE, c_out=C_OUT, kernel=(3, 3), padding="same", dtype="float32")
    x = np.full(X_SHAPE, PROBE)
    w = np.full(case.w_shape, PROBE)
    with adapter.placed():
        y = adapter.conv2d(case, ConvInputs(x=x, w=w, b=None))
    return classify(y, terms(case), f"float32 conv {X_SHAPE} * ({C_OUT}, 3, 3) 'same'")


def measure_matmul(engine: str, request: str) -> dict:
    """The float32 matrix product of ``engine`` (its record's ``matmul``) on ``request`` (cpu, cuda):
    what a dense layer of any framework on that engine computes."""
    n = MATMUL_SIZE
    a = np.full((n, n), PROBE, dtype=np.float32)
    y = engines.get(engine).matmul(a, request)
    return classify(y, n, f"float32 matmul ({n}, {n}) x ({n}, {n})")


def probe(adapter) -> dict:
    """The adapter's float32 math mode on its device: the settings, what the probe convolution
    measures by default and in :func:`full_float32` (``default``, ``full_float32``), and the same for
    its engine's matrix product (``matmul``)."""
    name = engine_of(adapter)
    found = {"device": adapter.device_record(), "settings": settings(name), "matmul": {}}
    request = devices.requested(found["device"].get("platform"))
    for mode, context in (("default", contextlib.nullcontext), ("full_float32", lambda: full_float32(name))):
        found[mode] = _attempt(context, lambda: measure(adapter))
        found["matmul"][mode] = _attempt(context, lambda: measure_matmul(name, request))
    return found


def _attempt(context, run) -> dict:
    """``run()`` inside ``context()``; a probe that raises is itself a finding."""
    try:
        with context():
            return run()
    except Exception as e:  # noqa: BLE001
        return {"value": None, "evidence": f"{type(e).__name__}: {e}"}


def main(argv=None) -> int:
    """``python -m bnconform.adapters.math_mode DEVICE TARGET...``: every target's :func:`probe` on ``DEVICE``
    as JSON (a target that is not installed, or does not see the device, says why; an unknown
    device or target is a usage error, exit 2)."""
    import argparse
    import json

    from . import Broken, Unavailable, get, load

    parser = argparse.ArgumentParser(prog="python -m bnconform.adapters.math_mode",
                                     description="The float32 math mode of each target on a device, as JSON.")
    parser.add_argument("device", help="cpu, or cuda (alias gpu) for the framework's accelerator")
    parser.add_argument("targets", nargs="+", metavar="TARGET")
    args = parser.parse_args(argv)
    try:
        device = devices.normalize(args.device)
        for name in args.targets:
            get(name)
    except ValueError as e:  # devices.UsageError, or an unknown target
        parser.error(str(e))
    found = {}
    for name in args.targets:
        try:
            found[name] = probe(load(name, device))
        except (Unavailable, Broken) as e:
            found[name] = {"unavailable": str(e)}
    print(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
