"""A network as a tuple of framework-neutral layer specs, and its shapes.

Both experiments describe their networks this way (:mod:`bnconform.cifar.archs`: the two course
CNNs; :mod:`bnconform.blobs.models`: the two-blob MLPs) and every framework builds the same layers
from it (:mod:`bnconform.training.torch_net`, ``keras_net``, ``flax_net``). A ``relu`` on a conv or
dense layer is its activation; on a BN layer it is a ReLU after the normalization.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    kind: str  # "bn", "conv", "pool", "flatten", "dropout", "dense"
    units: int = 0  # conv filters / dense units
    padding: str = "same"  # conv
    relu: bool = False  # conv / dense: the activation; bn: a ReLU after it
    rate: float = 0.0  # dropout
    bias: bool = True  # conv / dense (the two-blob networks' hidden Dense layers have none)


def shapes(spec, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The input shape (without N; NHWC for images) of every layer, plus the output shape at the end."""
    shape = tuple(input_shape)
    out = [shape]
    for layer in spec:
        if layer.kind == "conv":
            h, w, _ = shape
            if layer.padding == "valid":
                h, w = h - 2, w - 2
            shape = (h, w, layer.units)
        elif layer.kind == "pool":
            shape = (shape[0] // 2, shape[1] // 2, shape[2])
        elif layer.kind == "flatten":
            shape = (shape[0] * shape[1] * shape[2],)
        elif layer.kind == "dense":
            shape = (layer.units,)
        out.append(shape)
    return out
