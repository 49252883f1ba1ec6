"""The device a CIFAR-10 run trains on: the conformance suite's ``--device``, through the same helpers.

``--device`` (else ``$BNCONFORM_DEVICE``, else ``cpu``) is normalized by
:func:`bnconform.adapters.device.normalize` (``gpu`` is ``cuda``: the framework's accelerator) and each run's
worker asks :func:`bnconform.adapters.device.placement` for its target's placement, by the target's
engine record (``bnconform.engines``; a Keras target through ``keras.device`` on its backend): the same
:class:`bnconform.adapters.device.Placement` the adapters use. The trainer enters ``placement.enter()``
around every call into its framework (building the model and optimizer, each training step, each
forward pass), so the model, its optimizer state and every batch live on the device; only losses,
counts and logits come back to NumPy. The record's ``device`` is ``placement.record()``
(``{"platform", "name"}``, as in conformance records).

An accelerator the framework cannot see raises :class:`bnconform.adapters.Unavailable` naming the device and
why; the worker exits with :data:`UNAVAILABLE_EXIT` and the CLI makes it a usage error (exit 2)
for the targets asked for by name, a skip with its reason for the others (see :mod:`bnconform.app.cifar_cli`).

Determinism (:func:`determinism`): what each framework is asked for, recorded in every run. On the
CPU every framework is deterministic with one thread. On a GPU:

- PyTorch (and Keras on torch): ``torch.use_deterministic_algorithms(True)`` (cuDNN picks
  deterministic convolution algorithms; an op without one raises), ``cudnn.benchmark = False``,
  ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (deterministic cuBLAS): repeats are bit-for-bit on one machine;
- TensorFlow (Keras on tensorflow): ``tf.config.experimental.enable_op_determinism()``; the model
  compiles without XLA there (``jit_compile=False``): XLA refuses select-and-scatter (the max-pool
  gradient) under op determinism, TensorFlow's cuDNN max-pool gradient is deterministic;
- JAX (Flax, Keras on jax): ``--xla_gpu_deterministic_ops=true`` is *not* set, for the same reason
  (XLA's determinism documentation: it "makes compilation fail on select-and-scatter which does not
  have a deterministic implementation"); set it in ``XLA_FLAGS`` yourself to try, it is recorded.
  Without it the max-pool gradient's atomics make repeats differ in the last bits, and the
  differences grow over an epoch: a JAX run on a GPU is not repeatable bit for bit.

The gate needs no bit-for-bit repeats: a baseline is the accuracies of at least 3 seeds, and a run
passes above the one-sided Student-t prediction bound of those seeds (:mod:`bnconform.cifar.stats`). Run to
run noise of a non-deterministic kernel is one more source of the seed-to-seed spread the band
already measures (the seeds' baseline runs had it too), so it widens the band a little instead of
failing runs. Baselines are keyed by the device's platform (:mod:`bnconform.cifar.baselines`): GPU runs are
judged against GPU baselines, never against CPU ones.
"""

from __future__ import annotations

import os

from bnconform.adapters import Unavailable
from bnconform.adapters import device as devices
from bnconform.adapters.registry import TARGETS as REGISTRY

#: exit code of a worker whose device is not available (its message is the last stderr line)
UNAVAILABLE_EXIT = 3
#: the host, as a record names it (records written before the device was recorded ran there)
CPU_RECORD = {"platform": "cpu", "name": "cpu"}

__all__ = ["UNAVAILABLE_EXIT", "CPU_RECORD", "Unavailable", "request", "placement", "platform_of", "label",
           "determinism", "prepare_environment"]


def request(name: str | None) -> str:
    """``--device`` (None: ``$BNCONFORM_DEVICE``, else cpu) as ``cpu`` or ``cuda``;
    :class:`bnconform.adapters.device.UsageError` (a ``ValueError``) names anything else."""
    return devices.normalize(name if name is not None else os.environ.get(devices.ENV))


def _info(target: str):
    for info in REGISTRY:
        if info.name == target:
            return info
    raise ValueError(f"target must be one of the registry's targets, got {target!r}")


def placement(target: str, device: str) -> devices.Placement:
    """``target``'s placement on ``device`` (:func:`bnconform.adapters.device.placement` by its engine
    record); ``Unavailable`` when the framework is not installed or does not see it."""
    info = _info(target)
    reason = info.missing()
    if reason:
        raise Unavailable(f"{target}: {reason}")
    return info.placement(device)


def platform_of(record: dict) -> str:
    """The device platform of a record or baseline entry (``cpu`` when it names none: written
    before the device was recorded, when everything trained on the CPU)."""
    device = record.get("device") or CPU_RECORD
    return device.get("platform") or "cpu"


def label(record: dict) -> str:
    """``cpu``, ``cuda (cuda:0 NVIDIA H200)``: how the CIFAR-10 reports and gate lines name a run's
    device, in the words of the conformance report (``bnconform.reports.schema.device_label``, which the
    layers keep this package from importing: only the command imports both adapters and reports)."""
    device = record.get("device") or {"platform": "cpu", "name": None}
    platform, name = device.get("platform") or "cpu", device.get("name")
    return platform if not name or name == platform else f"{platform} ({name})"


def prepare_environment(target: str, device: str, env: dict) -> dict:
    """What must be set before the framework's import for ``device``: on an accelerator, the
    engine's ``accelerator_environment`` (``bnconform.engines``: cuBLAS's deterministic workspace for
    PyTorch and Keras on torch, ``TF_DETERMINISTIC_OPS`` for TensorFlow);
    nothing for the CPU (the thread settings of :func:`bnconform.training.targets.prepare_environment` suffice)."""
    if devices.normalize(device) != "cpu":
        for name, value in _info(target).engine_record().accelerator_environment.items():
            env.setdefault(name, value)
    return env


def determinism(target: str, device: str) -> dict:
    """What was asked of the framework for repeatable runs, as the record states it: the settings
    (environment and flags) read back at the time of the call, by the engine's record
    (``bnconform.engines``: ``determinism``)."""
    engine = _info(target).engine_record()
    out: dict = {"device": devices.normalize(device), **engine.determinism()}
    # the CPU with one thread is; a GPU where the framework's deterministic kernels were asked for
    out["bitwise_repeatable"] = out["device"] == "cpu" or bool(out.get(engine.deterministic_setting))
    return out


#: the host, unplaced: what a trainer made without a placement uses (tests, ``bnconform.cifar.parity``)
CPU_PLACEMENT = devices.CPU
