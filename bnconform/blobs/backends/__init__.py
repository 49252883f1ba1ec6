"""One trainer per target for the two-blob networks, behind :class:`bnconform.blobs.backends.base.Trainer`.

The targets, their processes and thread settings are :mod:`bnconform.training.targets`' (from the
registry :data:`bnconform.adapters.registry.TARGETS`): Keras 3 on each backend, PyTorch, and Flax linen
with optax, one process per target, one framework thread per run. The BN conventions are the
shared machinery's (:mod:`bnconform.training.torch_net`, ``keras_net``, ``flax_net``): Keras and
Flax take the momentum as the weight of the old statistic, PyTorch as the weight of the batch
(``1 - momentum``), Flax with ``use_fast_variance=False``.
"""

from __future__ import annotations

from bnconform.training.targets import trainer_class


def create(target: str, spec, weights, *, momentum: float, epsilon: float, adam: dict):
    """The target's trainer for ``spec`` starting from ``weights`` (canonical layout), BN momentum
    in the Keras convention."""
    cls, process = trainer_class(target, __name__)  # the same trainer kind as CIFAR-10's
    return cls(spec, weights, momentum=momentum, epsilon=epsilon, adam=adam, **process)
