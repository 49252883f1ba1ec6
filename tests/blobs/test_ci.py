"""The two-blob CI run: each run passes its checks and the planted bug is caught (and only by what
should catch it), on one target per trainer (``conftest.matrix_targets``); on every target, the
initial networks agree with float64 within the float32 bound, and the same seed gives the same
numbers in another process."""

from __future__ import annotations

import numpy as np
import pytest

from bnconform.blobs.models import build_spec, initial_weights, protocol
from bnconform.blobs.report import summary_lines
from bnconform.blobs.worker import parity_points
from bnconform.cifar.parity import forward_with_bound

from .conftest import REPEATED, missing


def _target_ok(blob_ci, target):
    reason = missing(target)
    if reason:
        pytest.skip(reason)
    errors = blob_ci[2].get(target)
    if errors:
        pytest.fail(f"{target}: " + "\n".join(errors), pytrace=False)


def _get(blob_ci, target, model, bn, seed, broken):
    _target_ok(blob_ci, target)
    key = (target, model, bn, seed, broken)
    assert key in blob_ci[0], f"no record for {key}"
    return blob_ci[0][key]


def test_run_passes_its_checks(matrix_target, blob_run, blob_ci, record_blob):
    """Accuracy in the Bayes band (recalibrated with BN), the moving statistics' decay (BN runs
    with a twin), and the loss gap's measured direction (BN runs with a no-BN partner)."""
    model, bn, seed, _, twin = blob_run
    record = _get(blob_ci, matrix_target, model, bn, seed, False)
    record_blob(record)
    line = summary_lines([record])[0]
    print(line)
    assert "accuracy" in record["checks"]
    assert (record["moving_statistics"] is not None) == (bn and twin)
    if bn:
        assert "loss_gap" in record["checks"], "BN run without its no-BN partner"
    assert record["verdict"] == "pass", line


def test_planted_bug_is_caught_by_the_moving_statistics(matrix_target, broken_run, blob_ci, record_blob):
    """The inverted momentum trains exactly like the correct network (the training-mode pass never
    reads the moving statistics), passes the accuracy check (even the lecture's inference accuracy
    is fine: its moving statistics are the last batch's), and fails the decay by far."""
    model, _, seed, _, _ = broken_run
    record = _get(blob_ci, matrix_target, model, True, seed, True)
    record_blob(record)
    line = summary_lines([record])[0]
    print(line)
    correct = _get(blob_ci, matrix_target, model, True, seed, False)
    assert [e["loss"] for e in record["epochs"]] == [e["loss"] for e in correct["epochs"]], (
        "the planted bug changed training: not the fault meant here")
    assert record["verdict"] == "pass" and record["control"]["caught_by"] == ["moving_statistics"], line
    decay = record["moving_statistics"]
    assert decay["max"] < decay["expected"] / 100, decay  # 0.01^k: nothing of the initial values left
    assert decay["max_error_over_tol"] > 100, decay


def test_initial_logits_match_float64_within_the_float32_bound(blob_target, blob_ci):
    """Every target's initial networks (the shared NumPy weights, seed 0) against the float64
    forward pass of :func:`bnconform.cifar.parity.forward_with_bound`, in inference mode (moving mean 0 and
    variance 1: each BN scales by 1 / sqrt(1 + eps))."""
    _target_ok(blob_ci, blob_target)
    extras = blob_ci[1].get(blob_target)
    assert extras is not None, f"{blob_target}: no forward pass"
    for out in extras["forward"]["outputs"]:
        spec = build_spec(out["model"], out["bn"])
        expected, bound = forward_with_bound(spec, initial_weights(spec, 0), parity_points(),
                                             eps=protocol(out["model"]).bn_epsilon)
        logits = np.asarray(out["logits"])
        assert out["dtype"] == "float32" and logits.shape == (len(expected),)
        error = np.abs(logits - expected[:, 0])
        assert (error <= bound[:, 0]).all(), (
            f"{blob_target} {out['model']} bn={out['bn']}: max |error| {error.max():.3e}, "
            f"max error/bound {(error / bound[:, 0]).max():.3g}")


def test_the_parity_bound_resolves_a_wrong_network():
    """Control, in NumPy alone: another seed's weights, the two input coordinates swapped (the first
    kernel's rows reversed) or the output kernel's rows reversed move most initial logits outside
    the bound (one outside fails the parity test). What it cannot see: a difference of BN epsilon
    or BN left out at initialization (moving variance 1: BN only scales by 1 / sqrt(1 + eps), 0.5%
    over the deep network's 11 layers, inside a worst-case bound of 0.6% to 18% of its tiny initial
    logits); the moving-statistics and accuracy checks of the trained runs cover those."""
    x = parity_points()
    for model in ("deep", "shallow"):
        spec = build_spec(model, True)
        eps = protocol(model).bn_epsilon
        expected, bound = forward_with_bound(spec, initial_weights(spec, 0), x, eps=eps)
        candidates = [forward_with_bound(spec, initial_weights(spec, 1), x, eps=eps)[0]]
        for layer in (0, -1):
            weights = [dict(w) for w in initial_weights(spec, 0)]
            weights[layer]["kernel"] = weights[layer]["kernel"][::-1].copy()
            candidates.append(forward_with_bound(spec, weights, x, eps=eps)[0])
        for candidate in candidates:
            assert (np.abs(candidate - expected) > bound).mean() > 0.5


def test_same_seed_same_numbers_in_another_process(blob_target, blob_ci):
    model, bn, seed, _, _ = REPEATED
    first = _get(blob_ci, blob_target, model, bn, seed, False)
    extras = blob_ci[1].get(blob_target)
    assert extras is not None, f"{blob_target}: the repeated run is missing"
    again = extras["repeat"]
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    assert [[e[k] for k in keys] for e in again["epochs"]] == [[e[k] for k in keys] for e in first["epochs"]]
    assert again["recalibrated"] == first["recalibrated"]
    assert again["moving_statistics"] == first["moving_statistics"]
    assert again["test_accuracy"] == first["test_accuracy"]


def test_the_whole_matrix_runs_on_one_target_per_trainer_unless_targets_are_chosen(monkeypatch):
    from types import SimpleNamespace

    from bnconform.training.targets import TARGETS

    from .conftest import matrix_targets, selected_targets

    monkeypatch.delenv("BNCONFORM_TARGETS", raising=False)
    plain = SimpleNamespace(getoption=lambda name, default=None: None)
    whole = matrix_targets(plain)
    assert sorted(TARGETS[t][0] for t in whole) == sorted({trainer for trainer, _, _ in TARGETS.values()})
    assert set(whole) < set(selected_targets(plain))  # the others: parity and determinism only
    chosen = SimpleNamespace(getoption=lambda name, default=None: ["keras-jax"] if name == "--target" else None)
    assert matrix_targets(chosen) == ["keras-jax"]
