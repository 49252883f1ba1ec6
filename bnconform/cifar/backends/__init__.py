"""One CIFAR-10 trainer per target, behind :class:`bnconform.cifar.backends.base.Trainer`.

The targets and their process environment are :mod:`bnconform.training.targets`' (a process holds
one Keras backend: :mod:`bnconform.app.runner` runs each target in its own); the trainer kind names
the module here (``keras_trainer``, ``torch_trainer``, ``flax_trainer``). Each trainer builds its
network from the architecture's layer spec with its framework's shared machinery
(:mod:`bnconform.training.torch_net`, ``keras_net``, ``flax_net``).
"""

from __future__ import annotations

from bnconform.training.targets import trainer_class


def create(target: str, spec, weights, *, seed: int, broken_bn: bool = False, **options):
    """Build the target's trainer with ``weights`` (canonical layout, see :mod:`bnconform.cifar.weights`).

    ``options`` go to the trainer: ``placement`` (an :class:`bnconform.adapters.device.Placement`, from
    :func:`bnconform.cifar.device.placement`; none: the host), ``permute_flatten=False`` for the torch trainer
    (in a test only).
    """
    cls, process = trainer_class(target, __name__)
    return cls(spec, weights, seed=seed, broken_bn=broken_bn, **process, **options)
