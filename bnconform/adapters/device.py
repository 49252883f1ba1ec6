"""Which device the adapters run on: ``cpu`` (the default) or the framework's accelerator.

One run, one device: ``--device`` (pytest, ``bnconform run``/``replay``) or ``BNCONFORM_DEVICE`` names
it, ``select`` records it, and ``bnconform.adapters.load`` gives each adapter a :class:`Placement` for it,
made by the one helper of the adapter's framework family below (torch, jax, tensorflow, keras):

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

import contextlib
import os
from dataclasses import dataclass, field
from typing import Callable, ContextManager

from bnconform.devices import ENV, REQUESTS, UsageError, normalize  # noqa: F401 - re-exported

from .base import Unavailable

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


@dataclass(frozen=True)
class Placement:
    """Where an adapter runs: ``platform`` (``cpu``, ``cuda``, ``gpu``), the device's ``name`` as its
    framework reports it, and ``enter()``, a fresh context manager that makes the framework place
    new layers, parameters and inputs there."""

    request: str
    platform: str
    name: str
    enter: Callable[[], ContextManager] = field(default=contextlib.nullcontext, compare=False, repr=False)

    def record(self) -> dict:
        """The results file's ``device`` field."""
        return {"platform": self.platform, "name": self.name}


CPU = Placement("cpu", "cpu", "cpu")


def _unavailable(target: str, request: str, why: str) -> Unavailable:
    return Unavailable(f"{target}: device {request} is not available: {why}")


# -- one helper per framework family -------------------------------------------------------------

def torch_placement(target: str, request: str) -> Placement:
    """PyTorch: ``torch.device`` as a context (factory functions and module constructors make their
    tensors there) and the device ``bnconform.adapters.torch_adapter.tensor`` moves NumPy data to."""
    import torch

    if request == "cpu":
        dev = torch.device("cpu")
        return Placement(request, "cpu", "cpu", lambda: dev)
    if not torch.cuda.is_available():
        return _raise(_unavailable(target, request, f"torch {torch.__version__} sees no CUDA device "
                                   f"(torch.cuda.is_available() is False; torch.version.cuda is {torch.version.cuda})"))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (PyTorch's reproducibility notes)
    # some CUDA kernels (pooling backward) have no deterministic version: warn instead of raising
    torch.use_deterministic_algorithms(True, warn_only=True)
    dev = torch.device("cuda", 0)
    return Placement(request, "cuda", f"cuda:0 {torch.cuda.get_device_name(0)}", lambda: dev)


def jax_placement(target: str, request: str) -> Placement:
    """JAX (and Flax): ``jax.default_device`` (new arrays and ``device_put`` go there; jitted
    functions run where their arguments are)."""
    import jax

    platform = "cpu" if request == "cpu" else "gpu"
    try:
        devices = jax.devices(platform)
    except RuntimeError as e:  # "Unknown backend gpu" / "backend 'cpu' failed to initialize"
        return _raise(_unavailable(target, request, f"jax {jax.__version__}: {e}"))
    if not devices:
        return _raise(_unavailable(target, request, f"jax {jax.__version__} lists no {platform} device"))
    dev = devices[0]
    name = "cpu" if platform == "cpu" else f"{dev.platform}:{dev.id} {getattr(dev, 'device_kind', '')}".strip()
    return Placement(request, platform, name, lambda: jax.default_device(dev))


def tensorflow_placement(target: str, request: str) -> Placement:
    """TensorFlow (tf_keras): ``tf.device("/CPU:0")`` or ``tf.device("/GPU:0")``."""
    import tensorflow as tf

    if request == "cpu":
        return Placement(request, "cpu", "cpu", lambda: tf.device("/CPU:0"))
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return _raise(_unavailable(target, request, f"tensorflow {tf.__version__} lists no GPU "
                                   f"(built with CUDA: {tf.test.is_built_with_cuda()})"))
    details = tf.config.experimental.get_device_details(gpus[0])
    return Placement(request, "gpu", f"gpu:0 {details.get('device_name', '')}".strip(), lambda: tf.device("/GPU:0"))


def keras_placement(target: str, backend: str, request: str) -> Placement:
    """Keras 3: the backend's helper above says whether the device is there; ``keras.device``
    places Keras's tensors (on torch it sets the device ``convert_to_tensor`` uses; on jax and
    tensorflow it is ``jax.default_device`` / ``tf.device``)."""
    inner = _HELPERS[backend](target, request)

    def enter():
        from .keras_adapter import active_keras

        keras = active_keras(backend)
        if request == "cpu":
            # Keras-on-torch compares torch.device("cpu") with the scope's name: "cpu:0" differs, so
            # convert_to_tensor would copy every variable on each use (no gradient reaches them)
            return keras.device("cpu" if backend == "torch" else "cpu:0")
        return keras.device("cuda:0" if backend == "torch" else "gpu:0")

    return Placement(request, inner.platform, inner.name, enter)


def _raise(e: Exception):
    raise e


_HELPERS = {"torch": torch_placement, "jax": jax_placement, "tensorflow": tensorflow_placement}


def placement(target: str, family: str, request: str) -> Placement:
    """The placement of ``target`` on ``request`` by its device family (the registry's
    ``AdapterInfo.device_family()``: an engine, or ``keras-<engine>``); a family without a helper
    runs on the cpu only."""
    if family.startswith("keras-"):
        return keras_placement(target, family.removeprefix("keras-"), request)
    helper = _HELPERS.get(family)
    if helper is None:
        if request != "cpu":
            raise Unavailable(f"{target}: device {request} is not available: no device helper for {family}")
        return CPU
    return helper(target, request)
