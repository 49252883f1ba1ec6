"""The two course architectures, framework-neutral.

An architecture is a tuple of layer specs (:class:`bnconform.training.spec.Layer`); each backend builds the same layers from it in its own
idiom. ``build_spec(arch, bn)`` removes the BN layers for the "without BN" variant and keeps the rest
(every conv and dense layer keeps its bias, as in the course). The last Dense outputs logits: the
course's ``Dense(10, softmax)`` followed by categorical cross-entropy is computed as softmax
cross-entropy on the logits in every framework (the same function, without Keras' probability clipping).

Model A (first lecture, batch 100):
  BN -> Conv(20) -> Pool -> Conv(40) -> Pool -> Conv(80) -> Pool -> Conv(160) -> Flatten
  -> Dense(1000, relu) -> Dense(10)                     (all convs 3x3, relu, 'same')
Model B (second lecture, batch 32):
  BN -> Conv(32, valid) -> Dropout(.2) -> BN -> Conv(32) -> Pool -> BN -> Conv(64) -> Pool -> Flatten
  -> Dropout(.2) -> BN -> Dense(512, relu) -> Dropout(.2) -> BN -> Dense(10)
"""

from __future__ import annotations

from bnconform.training.spec import Layer
from bnconform.training.spec import shapes as spec_shapes

INPUT_SHAPE = (32, 32, 3)  # H, W, C
CLASSES = 10


def _conv(filters, padding="same"):
    return Layer("conv", filters, padding=padding, relu=True)


BN, POOL, FLAT = Layer("bn"), Layer("pool"), Layer("flatten")
DROP = Layer("dropout", rate=0.2)

ARCHS = {
    "A": (BN, _conv(20), POOL, _conv(40), POOL, _conv(80), POOL, _conv(160), FLAT,
          Layer("dense", 1000, relu=True), Layer("dense", CLASSES)),
    "B": (BN, _conv(32, "valid"), DROP, BN, _conv(32), POOL, BN, _conv(64), POOL, FLAT, DROP, BN,
          Layer("dense", 512, relu=True), DROP, BN, Layer("dense", CLASSES)),
}
BATCH_SIZE = {"A": 100, "B": 32}


def build_spec(arch: str, bn: bool) -> tuple[Layer, ...]:
    """The layers of ``arch`` ("A" or "B"), with or without its BN layers."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {sorted(ARCHS)}, got {arch!r}")
    return tuple(layer for layer in ARCHS[arch] if bn or layer.kind != "bn")


def shapes(spec, input_shape: tuple[int, ...] = INPUT_SHAPE) -> list[tuple[int, ...]]:
    """The shapes of every layer (:func:`bnconform.training.spec.shapes`), by default of an image."""
    return spec_shapes(spec, input_shape)


def param_counts(spec) -> list[int]:
    """Parameters per parametrized layer, as Keras' ``summary()`` counts them (BN: 4 per feature)."""
    counts = []
    for layer, shape in zip(spec, shapes(spec)):
        if layer.kind == "bn":
            counts.append(4 * shape[-1])
        elif layer.kind == "conv":
            counts.append(9 * shape[-1] * layer.units + layer.units)
        elif layer.kind == "dense":
            counts.append(shape[0] * layer.units + layer.units)
    return counts
