"""Which device the adapters run on: ``cpu`` (the default) or the framework's accelerator.

One run, one device: ``--device`` (pytest, ``bnconform run``/``replay``) or ``BNCONFORM_DEVICE`` names
it, ``select`` records it, and ``bnconform.adapters.load`` gives each adapter a :class:`Placement` for it,
made by its engine's record (``bnconform.engines``; Keras 3 targets through ``keras.device`` on top):

- ``cpu``: the host, on every framework (JAX and TensorFlow are pinned to it even where a GPU is
  installed, so a verdict never depends on what the machine happens to have).
- ``cuda`` (alias ``gpu``): PyTorch's ``torch.device("cuda:0")`` (Keras-on-torch through
  ``keras.device("cuda:0")``), JAX's first ``jax.devices("gpu")`` (Flax and Keras-on-jax too),
  TensorFlow's ``/GPU:0`` (Keras-on-tensorflow, tf_keras).

An accelerator the framework cannot see raises ``bnconform.adapters.Unavailable`` with the reason: the
properties skip; the CLIs turn an explicitly asked device into a usage error (exit 2).

A placement is entered around every call into the framework (``checks.run``, the fingerprint):
inside it, layers, parameters and inputs are made on the device (PyTorch: the ``torch.device``
context and ``tensor()`` moving NumPy data there; JAX: ``jax.default_device``; TensorFlow:
``tf.device``); outputs come back to NumPy on the host.
"""

from __future__ import annotations

import os

from bnconform import engines
from bnconform.devices import ENV, REQUESTS, UsageError, normalize  # noqa: F401 - re-exported
from bnconform.engines.base import CPU, Placement  # noqa: F401 - re-exported

from .base import Unavailable  # noqa: F401 - what a placement raises

_selected: str | None = None


def select(request: str | None) -> str:
    """Make ``request`` this process's device (None: ``$BNCONFORM_DEVICE``, else cpu); returns it."""
    global _selected
    _selected = normalize(request if request is not None else os.environ.get(ENV))
    return _selected


def selected() -> str:
    """The device asked for in this process: the last :func:`select`, else ``$BNCONFORM_DEVICE``, else cpu."""
    return _selected if _selected is not None else normalize(os.environ.get(ENV))


def explicit() -> bool:
    """Whether a device was asked for (``select`` with a name, or ``$BNCONFORM_DEVICE``), as opposed to
    the cpu default."""
    return _selected is not None or bool(os.environ.get(ENV, "").strip())


# -- placement: the engine's, Keras 3's scope on top ----------------------------------------------

def keras_placement(target: str, engine: str, request: str) -> Placement:
    """Keras 3 on ``engine``: the engine's placement says whether the device is there and names it;
    ``keras.device`` (with the device name the engine's record gives for Keras) places Keras's
    tensors (on torch it sets the device ``convert_to_tensor`` uses; on jax and tensorflow it is
    ``jax.default_device`` / ``tf.device``). A Keras without ``keras.device`` (3.0.0) is placed by the
    engine's scope alone."""
    record = engines.get(engine)
    inner = record.placement(target, request)
    backend, name = record.keras_backend, record.keras_devices[request]
    if backend is None:
        raise engines.UnknownEngine(f"{target}: Keras 3 has no backend on engine {engine}")

    def enter():
        from .keras_adapter import active_keras

        keras = active_keras(backend)
        if hasattr(keras, "device"):
            return keras.device(name)
        # Keras 3.0.0 has no keras.device (bisect measured it; 3.0.1 has one): the engine's own scope places the
        # backend's tensors, which is all a Keras layer holds there
        return inner.enter()

    return Placement(request, inner.platform, inner.name, enter)


def placement(target: str, engine: str, request: str, *, keras: bool = False) -> Placement:
    """The placement of ``target`` on ``request`` by its engine's record (``bnconform.engines``;
    ``keras``: a Keras 3 target, placed through ``keras.device`` too). An engine without a record is
    ``bnconform.engines.UnknownEngine`` naming it: never a silent run on the host."""
    if keras:
        return keras_placement(target, engine, request)
    return engines.get(engine).placement(target, request)
