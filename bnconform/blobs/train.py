"""The framework-neutral training loop of the two-blob networks; one call = one run = one record.

The loop owns what must be identical across frameworks: the data (:mod:`bnconform.blobs.data`), the initial
weights (:mod:`bnconform.blobs.models`), and the order of every epoch (:func:`bnconform.cifar.order.epoch_order`, the
CIFAR-10 harness's seeded streams). After every epoch it evaluates, in inference mode, the test set
(``val_loss``, ``val_accuracy``: the lecture validates on its test set), beside the training-mode
``loss`` and ``accuracy`` the framework reports (the lecture's curves).

After the last epoch, for a network with BN:

- the moving statistics are read (for the twin comparison, :func:`bnconform.blobs.verdict.moving_statistics_decay`);
- the *recalibrated* metrics are measured: the moving statistics set to the training set's
  statistics under the final weights (:meth:`Trainer.recalibrate`), then the test and training
  sets evaluated again;
- with ``twin=True``, the same network is trained again from the same weights and order but with
  every initial moving mean and variance shifted by :data:`bnconform.blobs.models.TWIN_SHIFT`. The moving
  statistics never enter a training-mode pass, so the twin trains bit for bit like the main run
  (checked: every epoch's training loss must be equal) and the two runs' final moving statistics
  differ by exactly ``momentum^steps * shift``.

The record is the ``blobs`` entry of the results file (docs/design.md); :func:`bnconform.blobs.verdict.judge`
fills its ``checks`` and ``verdict``.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from bnconform.cifar.order import epoch_order

from . import backends
from .backends.base import evaluate
from .bayes import ALPHA, bayes_accuracy, sampling_band
from .verdict import moving_statistics_decay
from .data import Blobs, bayes_rule
from .models import TWIN_SHIFT, bn_momentum, build_spec, initial_weights, protocol


class TwinDiverged(RuntimeError):
    """The twin run did not train exactly like the main run, so the moving-statistics comparison
    would measure something else: a framework whose training depends on its moving statistics."""


def bayes_block(data: Blobs, alpha: float = ALPHA) -> dict:
    """p*, the sampling band for the test set's size, and the Bayes rule's own accuracies."""
    band = sampling_band(bayes_accuracy(), len(data.y_test), alpha)
    return {**band.as_dict(),
            "bayes_rule_test_accuracy": float((bayes_rule(data.x_test) == data.y_test).mean()),
            "bayes_rule_train_accuracy": float((bayes_rule(data.x_train) == data.y_train).mean())}


def _train(target, spec, weights, p, momentum, data, orders, *, evaluate_epochs: bool):
    trainer = backends.create(target, spec, weights, momentum=momentum, epsilon=p.bn_epsilon,
                              adam=p.adam())
    epochs = []

    def on_epoch(epoch: int, fit: dict) -> None:
        entry = {"epoch": epoch + 1, "loss": fit["loss"], "accuracy": fit["accuracy"]}
        if evaluate_epochs:
            val = evaluate(trainer, data.x_test, data.y_test)
            entry.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        epochs.append(entry)

    trainer.fit(data.x_train, data.y_train, orders, p.batch_size, on_epoch=on_epoch)
    return trainer, epochs


def run(target: str, model: str, bn: bool, seed: int, data: Blobs, *, broken_bn: bool = False,
        twin: bool = True) -> dict:
    """Train ``model`` (with or without BN) on ``target`` and return the run record."""
    started, cpu_started = time.perf_counter(), time.process_time()
    p = protocol(model)
    spec = build_spec(model, bn)
    momentum = bn_momentum(model, broken_bn)
    n_train = len(data.y_train)
    orders = [epoch_order(seed, epoch, n_train) for epoch in range(p.epochs)]

    trainer, epochs = _train(target, spec, initial_weights(spec, seed), p, momentum, data, orders,
                             evaluate_epochs=True)
    train_seconds = time.perf_counter() - started
    test = evaluate(trainer, data.x_test, data.y_test)
    train_inference = evaluate(trainer, data.x_train, data.y_train)
    record = {
        "target": target, "framework": trainer.framework, "backend": trainer.backend,
        "versions": trainer.versions(), "model": model, "bn": bn, "broken_bn": broken_bn,
        "seed": seed, "protocol": {**p.as_dict(), "steps": p.steps(n_train),
                                   "bn_momentum_given": momentum if bn else None},
        "data": data.describe(), "bayes": bayes_block(data), "epochs": epochs,
        "test_accuracy": test["accuracy"], "test_loss": test["loss"],
        "train_loss_inference": train_inference["loss"],
        "train_accuracy_inference": train_inference["accuracy"],
        "recalibrated": None, "moving_statistics": None,
    }
    record["version"] = record["versions"][trainer.framework]
    if bn:
        main_stats = trainer.moving_statistics()
        trainer.recalibrate(data.x_train)
        test_r = evaluate(trainer, data.x_test, data.y_test)
        train_r = evaluate(trainer, data.x_train, data.y_train)
        # how far the moving variances the protocol leaves are from the training set's: per layer,
        # the median over units of moving / recalibrated (PyTorch's unbiased 750/749 aside)
        ratios = [float(np.median(v / np.maximum(rv, 1e-30)))
                  for (_, v), (_, rv) in zip(main_stats, trainer.moving_statistics())]
        record["recalibrated"] = {"test_accuracy": test_r["accuracy"], "test_loss": test_r["loss"],
                                  "train_loss": train_r["loss"], "train_accuracy": train_r["accuracy"],
                                  "moving_variance_ratio": ratios}
        if twin:
            t0 = time.perf_counter()
            twin_trainer, twin_epochs = _train(target, spec, initial_weights(spec, seed, twin=True), p,
                                               momentum, data, orders, evaluate_epochs=False)
            if [e["loss"] for e in twin_epochs] != [e["loss"] for e in epochs]:
                raise TwinDiverged(f"{target} {model} seed {seed}: the twin run's training losses differ "
                                   "from the main run's")
            record["moving_statistics"] = moving_statistics_decay(
                main_stats, twin_trainer.moving_statistics(), TWIN_SHIFT, p.bn_momentum,
                p.steps(n_train))
            record["twin_seconds"] = time.perf_counter() - t0
    record.update(train_seconds=train_seconds, wall_seconds=time.perf_counter() - started,
                  cpu_seconds=time.process_time() - cpu_started,
                  machine={"platform": platform.platform(), "cpus": os.cpu_count(),
                           "threads": int(os.environ.get("BNCONFORM_THREADS", 0))})
    return record
