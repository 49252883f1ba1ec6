"""The lecture's two networks for the blobs, framework-neutral, and their training protocols.

Deep (the lecture's): Input(2) -> 11 x [Dense(128, no bias) -> BatchNormalization -> ReLU] ->
Dense(1) with a sigmoid, binary cross-entropy, Adam with learning rate 0.01, batch 300, 100
epochs; Keras' BatchNormalization defaults (momentum 0.99, epsilon 1e-3).

Shallow (the variant that comes with it): Input(2) -> Dense(128, no bias) -> BN -> ReLU ->
Dense(1), BN momentum 0.99 and epsilon 1e-5 (the values of the course's hand-written layer),
50 epochs. The lecture gives no other numbers for it; the width (128), batch (300) and optimizer
(Adam, 0.01) are the deep network's.

Without BN, the BN layers are left out and everything else kept, including the missing biases, so
the two variants start from the same Dense kernels (a paired comparison, as in the CIFAR-10
harness). The output layer keeps its bias. As in :mod:`bnconform.cifar.archs`, the last Dense outputs a
logit: the sigmoid and the cross-entropy are computed together (``from_logits`` / ``*_with_logits``)
in every framework.

Layers are :class:`bnconform.training.spec.Layer` and initial weights :func:`bnconform.cifar.weights.initial_weights`
(Glorot-uniform kernels, one seeded stream per Dense layer; BN gamma 1, beta 0, moving mean 0,
moving variance 1). Adam's other numbers are :data:`bnconform.cifar.settings.ADAM`'s (Keras' defaults).

Steps: 750 training points in batches of 300 are 3 steps an epoch (300, 300, 150), so the deep
network trains 300 steps and the shallow one 150. With momentum 0.99, the moving statistics then
still hold 0.99^300 = 4.9% (deep) and 0.99^150 = 22% (shallow) of their initial values: see
:mod:`bnconform.blobs.verdict` for what that does to inference and how the suite uses it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from bnconform.cifar import settings
from bnconform.training.spec import Layer
from bnconform.cifar.weights import initial_weights as cifar_initial_weights

INPUT_SHAPE = (2,)


@dataclass(frozen=True)
class Protocol:
    hidden: int  # hidden Dense layers
    units: int
    epochs: int
    batch_size: int
    learning_rate: float
    bn_momentum: float  # Keras convention: the weight of the old moving statistic
    bn_epsilon: float

    def steps(self, n_train: int) -> int:
        """Training steps: one per batch, the last batch of an epoch smaller."""
        return self.epochs * math.ceil(n_train / self.batch_size)

    def adam(self) -> dict:
        return {**settings.ADAM, "learning_rate": self.learning_rate}

    def as_dict(self) -> dict:
        return asdict(self)


MODELS = {
    "deep": Protocol(hidden=11, units=128, epochs=100, batch_size=300, learning_rate=0.01,
                     bn_momentum=0.99, bn_epsilon=1e-3),
    "shallow": Protocol(hidden=1, units=128, epochs=50, batch_size=300, learning_rate=0.01,
                        bn_momentum=0.99, bn_epsilon=1e-5),
}


def protocol(model: str) -> Protocol:
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    return MODELS[model]


def build_spec(model: str, bn: bool) -> tuple[Layer, ...]:
    """The layers of ``model`` with or without BN (ReLU after the BN, or after the Dense without)."""
    p = protocol(model)
    layers = []
    for _ in range(p.hidden):
        layers.append(Layer("dense", p.units, relu=not bn, bias=False))
        if bn:
            layers.append(Layer("bn", relu=True))
    layers.append(Layer("dense", 1))
    return tuple(layers)


def bn_momentum(model: str, broken: bool) -> float:
    """The BN momentum (Keras convention) the frameworks get; ``broken`` inverts its meaning, the
    planted bug of :data:`bnconform.cifar.settings.BROKEN_BN_MOMENTUM`."""
    m = protocol(model).bn_momentum
    return 1.0 - m if broken else m


#: The initial moving statistics of the twin run (:mod:`bnconform.blobs.verdict`): mean 0 + 1, variance 1 + 1.
TWIN_SHIFT = 1.0


def initial_weights(spec, seed: int, twin: bool = False) -> list[dict]:
    """Canonical initial weights; ``twin`` shifts every BN layer's initial moving mean and
    variance by :data:`TWIN_SHIFT` (nothing else changes)."""
    weights = cifar_initial_weights(spec, seed, INPUT_SHAPE)
    if twin:
        weights = [({**w, "mean": w["mean"] + TWIN_SHIFT, "var": w["var"] + TWIN_SHIFT}
                    if "gamma" in w else w) for w in weights]
    return weights
