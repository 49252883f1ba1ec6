"""The framework-neutral training loop; one call = one run = one record.

The loop owns everything that must be identical across frameworks: the initial weights
(:mod:`bnconform.cifar.weights`), the fixed subset and split (:mod:`bnconform.cifar.order`), the order of every epoch, and
the float32 inputs (``uint8 / 255`` computed once in NumPy). The trainer only executes.

The record is the ``cifar`` entry of the results file (docs/design.md); the gate fields
(``baseline``, ``threshold``, ``margin``, ``verdict``) are filled by :func:`bnconform.cifar.verdict.judge`.
"""

from __future__ import annotations

import os
import platform
import resource
import time

import numpy as np

from . import backends, order
from .archs import BATCH_SIZE, build_spec
from .profiles import VALIDATION_SPLIT, Protocol
from .epoch_bar import Progress
from .weights import initial_weights


def _process_cpu_seconds() -> float:
    """CPU time of this worker process so far (start-up, data loading and training)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def to_float(x: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1] (correctly rounded k / 255)."""
    return np.asarray(x, dtype=np.float32) / np.float32(255)


def run(target: str, arch: str, bn: bool, profile: str, protocol: Protocol, seed: int, data, *,
        broken_bn: bool = False, progress: bool = True, live: bool = False,
        stream=None, placement=None) -> dict:
    """Train ``arch`` (with or without BN) on ``target`` and return the run record.

    ``placement``: the device (:func:`bnconform.cifar.device.placement`; None: the host, unplaced); the
    record's ``device`` is its ``{"platform", "name"}`` and ``determinism`` what the framework was
    asked for (:func:`bnconform.cifar.device.determinism`)."""
    from .device import CPU_PLACEMENT, determinism

    placement = placement or CPU_PLACEMENT
    started = time.perf_counter()
    spec = build_spec(arch, bn)
    parts = order.split(data, protocol.n_train, protocol.n_val, VALIDATION_SPLIT[arch], protocol.n_test)
    x_train, y_train = to_float(parts.x_train), parts.y_train.astype(np.int64)
    x_val, y_val = to_float(parts.x_val), parts.y_val.astype(np.int64)
    test_is_val = len(parts.y_val) == len(parts.y_test) and VALIDATION_SPLIT[arch] == 0
    batch_size = BATCH_SIZE[arch]

    trainer = backends.create(target, spec, initial_weights(spec, seed), seed=seed,
                              broken_bn=broken_bn, placement=placement)
    bar = Progress(f"{target} {arch}{'' if bn else ' no-BN'} s{seed}", protocol.epochs,
                   len(y_train), stream=stream, enabled=progress, live=live)
    epochs = []
    for epoch in range(protocol.epochs):
        visit = order.epoch_order(seed, epoch, len(y_train))
        bar.start_epoch(epoch)
        t0, c0 = time.perf_counter(), time.process_time()
        fit = trainer.train_epoch(x_train, y_train, visit, batch_size, on_batch=bar.on_batch)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        val = trainer.evaluate(x_val, y_val)
        entry = {"epoch": epoch + 1, "loss": fit["loss"], "accuracy": fit["accuracy"],
                 "val_loss": val["loss"], "val_accuracy": val["accuracy"],
                 "images_per_s": len(y_train) / seconds, "seconds": seconds,
                 "eval_seconds": time.perf_counter() - t0 - seconds,
                 # CPU time of the training part: on a shared machine, images per CPU second
                 # estimate the throughput the run would have alone
                 "cpu_seconds": cpu, "images_per_cpu_s": len(y_train) / max(cpu, 1e-9)}
        epochs.append(entry)
        bar.end_epoch(entry)
    if test_is_val:
        test = {"accuracy": epochs[-1]["val_accuracy"], "loss": epochs[-1]["val_loss"]}
    else:
        test = trainer.evaluate(to_float(parts.x_test), parts.y_test.astype(np.int64))

    versions = trainer.versions()
    return {
        "target": target,
        "framework": trainer.framework,
        "version": versions[trainer.framework],
        "backend": trainer.backend,
        "versions": versions,
        "arch": arch,
        "bn": bn,
        "broken_bn": broken_bn,
        "profile": profile,
        "seed": seed,
        "batch_size": batch_size,
        "data": {**data.describe(), "n_train": int(len(y_train)), "n_val": int(len(y_val)),
                 "n_test": int(len(parts.y_test)),
                 "validation": (f"split {VALIDATION_SPLIT[arch]}" if VALIDATION_SPLIT[arch] else
                                "test" if test_is_val else f"test subset {len(parts.y_val)}")},
        "epochs": epochs,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "images_per_s": float(np.median([e["images_per_s"] for e in epochs])),
        "images_per_cpu_s": float(np.median([e["images_per_cpu_s"] for e in epochs])),
        "wall_seconds": time.perf_counter() - started,
        "process_cpu_seconds": _process_cpu_seconds(),
        "device": placement.record(),
        "determinism": determinism(target, placement.request),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or None,
                    "cpus": os.cpu_count(), "threads": int(os.environ.get("BNCONFORM_THREADS", 0))},
        "baseline": None,
        "threshold": None,
        "margin": None,
        "verdict": None,
    }
