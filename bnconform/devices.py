"""Device names: what a user may ask for, and which request a recorded device answers.

A *request* is what ``--device``, ``BNCONFORM_DEVICE`` and a known-deviation entry's ``device``
take: ``cpu``, or ``cuda`` (alias ``gpu``), the framework's accelerator. A record's device
*platform* is what the framework reported when the adapter was placed (``bnconform.adapters.device``):
``cpu``; ``cuda`` (PyTorch, Keras-on-torch); ``gpu`` (JAX, Flax, Keras-on-jax, TensorFlow).
:func:`requested` maps a platform back to the request it answers, so that one name covers the
accelerator of every framework.
"""

from __future__ import annotations

ENV = "BNCONFORM_DEVICE"
#: what a user may ask for; "gpu" is the same request as "cuda" (the framework's accelerator)
REQUESTS = ("cpu", "cuda", "gpu")


class UsageError(ValueError):
    """An unknown device name (always a usage error, whether asked on the command line or by env)."""


def normalize(request: str | None) -> str:
    """``"cpu"`` or ``"cuda"``; None or empty is ``"cpu"``; ``UsageError`` names anything else."""
    name = (request or "cpu").strip().lower()
    if name not in REQUESTS:
        raise UsageError(f"--device: unknown device {request!r}; expected one of {', '.join(REQUESTS)} "
                         f"(cuda and gpu both mean the framework's accelerator)")
    return "cuda" if name == "gpu" else name


def requested(platform: str | None) -> str:
    """The request a recorded platform answers: ``"cpu"`` for the host (and for a record without a
    device, written before devices were recorded), ``"cuda"`` for any accelerator."""
    return "cpu" if platform in (None, "", "cpu") else "cuda"
