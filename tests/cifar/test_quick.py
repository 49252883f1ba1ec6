"""The gated profile (``quick`` in CI) against the recorded baselines, and the broken-BN control,
on one target per trainer unless ``--cifar-targets`` names them (``conftest.gated_runs``: where the
control trains model B, its correct run is that trainer's gated one).

Each run's record goes to the results file (``observe.cifar``) with its baseline band, threshold,
margin and verdict. A version without a baseline is skipped with the command that records one
(the gate's ``no-baseline``: shown, not failed; ``BNCONFORM_REQUIRE_BASELINE=1`` fails instead).
"""

from __future__ import annotations

import os

import pytest

from bnconform.cifar.verdict import judge, summary_line


def _require_baseline() -> bool:
    return os.environ.get("BNCONFORM_REQUIRE_BASELINE", "") in ("1", "true", "yes")


def _get(profile_runs, key):
    records, errors = profile_runs
    if key in errors:
        pytest.fail(f"run {key} failed: {errors[key]}", pytrace=False)
    return records[key]


def _no_baseline(record, profile):
    message = (f"no baseline for {record['target']} {record['versions']} arch {record['arch']} "
               f"{'BN' if record['bn'] else 'no-BN'} profile {profile}; record one with: "
               f"python -m bnconform.cifar baseline --profile {profile} --targets {record['target']} "
               f"--archs {record['arch']} --bn {'on' if record['bn'] else 'off'} --seeds 0 1 2 3 4")
    if _require_baseline():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def test_profile_passes_the_gate(gated_run, profile_runs, baseline_store, record_run, cifar_profile):
    target, arch, bn = gated_run
    record = judge(_get(profile_runs, (target, arch, bn, False)), baseline_store)
    record_run(record)
    print(summary_line(record))
    if record["verdict"] == "no-baseline":
        _no_baseline(record, cifar_profile)
    assert record["verdict"] == "pass", summary_line(record)


def test_broken_bn_fails_the_gate(broken_target, profile_runs, baseline_store, record_run,
                                  cifar_profile):
    """Model B with the BN momentum's meaning inverted (moving statistics = the last batch's) trains
    exactly as the correct model (the training forward pass uses batch statistics) but is worse in
    inference; the gate must catch it against the correct model's baseline."""
    record = judge(_get(profile_runs, (broken_target, "B", True, True)), baseline_store)
    record_run(record, observe=False)  # a deliberate failure must not fail the suite's own gate
    print(summary_line(record))
    if record["verdict"] == "no-baseline":
        _no_baseline(record, cifar_profile)
    correct = _get(profile_runs, (broken_target, "B", True, False))
    same_training = [e["loss"] for e in record["epochs"]] == [e["loss"] for e in correct["epochs"]]
    assert same_training, "the broken BN changed training-mode losses: not the fault meant here"
    assert record["verdict"] == "fail", (
        f"broken BN not caught: {summary_line(record)}; correct model "
        f"{correct['test_accuracy']:.4f}")


class _Config:
    """A config whose ``--cifar-targets`` is ``value`` (None: not given)."""

    def __init__(self, value):
        self.value = value

    def getoption(self, name):
        return self.value if name == "--cifar-targets" else None


def test_the_gate_trains_one_target_per_trainer_unless_targets_are_named(monkeypatch):
    from bnconform.cifar import profiles
    from bnconform.training.targets import TARGETS

    from .conftest import gated_runs, gated_targets

    monkeypatch.delenv("BNCONFORM_CIFAR_TARGETS", raising=False)
    monkeypatch.delenv("BNCONFORM_CIFAR_PROFILE", raising=False)
    default = gated_targets(_Config(None))
    trainers = [TARGETS[t][0] for t in default]
    assert sorted(trainers) == sorted({trainer for trainer, _, _ in TARGETS.values()}) and len(set(trainers)) == len(trainers)
    control = profiles.get("quick").broken_bn_targets
    assert set(control) <= set(default)  # the broken-BN control's target is gated
    runs = gated_runs(_Config(None))
    assert sorted(t for t, _, _ in runs) == sorted(default)  # one gated run per trainer
    assert all((arch, bn) == (("B", True) if t in control else ("A", True)) for t, arch, bn in runs)
    assert gated_targets(_Config("keras-jax,keras-torch")) == ["keras-jax", "keras-torch"]
    assert gated_runs(_Config("keras-tensorflow")) == [("keras-tensorflow", "A", True)]  # named: the matrix
