"""One trainer per target for the two-blob networks, behind :class:`bnconform.blobs.backends.base.Trainer`.

The targets, their processes and thread settings are the CIFAR-10 harness's
(:data:`bnconform.cifar.backends.TARGETS`, from the registry :data:`bnconform.adapters.registry.TARGETS`;
:func:`bnconform.cifar.backends.prepare_environment`): Keras 3 on each backend,
PyTorch, and Flax linen with optax, one process per target, one framework thread per run. The BN
conventions too: Keras and Flax take the momentum as the weight of the old statistic, PyTorch as
the weight of the batch (``1 - momentum``), Flax with ``use_fast_variance=False``.
"""

from __future__ import annotations

import importlib
import os

from bnconform.cifar.backends import DEFAULT_THREADS, TARGETS, check_target


def create(target: str, spec, weights, *, momentum: float, epsilon: float, adam: dict):
    """The target's trainer for ``spec`` starting from ``weights`` (canonical layout), BN momentum
    in the Keras convention."""
    check_target(target)
    module_name, _, backend = TARGETS[target]  # the same trainer kind as CIFAR-10's (bnconform.adapters.registry)
    module = importlib.import_module(f"{__name__}.{module_name}")
    threads = int(os.environ.get("BNCONFORM_THREADS") or DEFAULT_THREADS)
    return module.Trainer(spec, weights, momentum=momentum, epsilon=epsilon, adam=adam,
                          threads=threads, backend=backend)
