"""The targets that train, and what their worker process needs before any framework is imported.

Targets: the registry's targets with a ``trainer`` kind (:data:`bnconform.adapters.registry.TARGETS`):
``torch`` (PyTorch), ``keras-tensorflow``, ``keras-jax``, ``keras-torch`` (Keras 3 on each backend)
and ``flax-linen`` (JAX with Flax linen and optax); the kind names the module of each experiment's
trainer (``<kind>_trainer``, in ``bnconform.cifar.backends`` and ``bnconform.blobs.backends``).
Keras fixes its backend at import (``KERAS_BACKEND``), so a process can hold one Keras backend
only: :func:`prepare_environment` sets the variables before any framework is imported, and
:mod:`bnconform.app.runner` runs each target in its own process.
"""

from __future__ import annotations

import importlib
import os

from bnconform import engines
from bnconform.adapters.registry import TARGETS as REGISTRY

#: target: (trainer module, framework, Keras backend or None), in registry order
TARGETS = {
    info.name: (f"{info.trainer}_trainer", info.framework, info.backend if info.framework == "keras" else None)
    for info in REGISTRY if info.trainer is not None
}

DEFAULT_THREADS = 1


def one_per_trainer() -> list[str]:
    """The first target of each trainer module, in registry order (torch, keras-tensorflow, flax-linen):
    Keras's three backends share one trainer and one network, so these train every trainer's code."""
    first: dict[str, str] = {}
    for target, (trainer, _, _) in TARGETS.items():
        first.setdefault(trainer, target)
    return list(first.values())


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {sorted(TARGETS)}, got {target!r}")


def prepare_environment(target: str, threads: int | None = None, env=None) -> dict:
    """Set (in ``env``, default ``os.environ``) what must be fixed before the framework's import.

    Threads: one per run by default. The result of a run then does not depend on the machine's
    core count (a multi-threaded reduction may split its sums differently), so baselines carry over
    to any machine with the same instruction set; the suite uses the cores by running several runs
    at once (``--jobs``). ``threads`` is kept in every record and in the baseline key.
    """
    check_target(target)
    env = os.environ if env is None else env
    if threads is None:
        threads = int(env.get("BNCONFORM_THREADS") or DEFAULT_THREADS)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["BNCONFORM_THREADS"] = str(threads)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    for engine in engines.all_engines():  # each engine's own thread settings (XLA's for jax)
        env.update(engine.thread_environment(threads, env))
    backend = TARGETS[target][2]
    if backend:
        env["KERAS_BACKEND"] = backend
    return env


def trainer_class(target: str, package: str) -> tuple[type, dict]:
    """``target``'s ``Trainer`` class in ``package`` (an experiment's ``backends``) and the keyword
    arguments every trainer takes from the process: ``threads`` (``$BNCONFORM_THREADS``, set by
    :func:`prepare_environment`) and ``backend`` (Keras' backend, None for the others)."""
    check_target(target)
    module_name, _, backend = TARGETS[target]
    module = importlib.import_module(f"{package}.{module_name}")
    threads = int(os.environ.get("BNCONFORM_THREADS") or DEFAULT_THREADS)
    return module.Trainer, {"threads": threads, "backend": backend}
