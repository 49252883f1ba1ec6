"""The checks of a run, on synthetic numbers: the moving-statistics decay against an EMA simulated
in float32 (right, inverted, skipped and doubled updates), the verdict of a run and of a planted
bug, and the loss-gap pairs."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from bnconform.blobs.verdict import judge, loss_gaps, moving_statistics_decay

M, K, SHIFT = 0.99, 300, 1.0


def ema(k, momentum, init_mean, init_var, seed=0, updates_per_step=1, units=64, layers=3):
    """Moving statistics after ``k`` steps of float32 updates ``m * old + (1 - m) * batch``, the
    batch statistics drawn from ``seed`` (the same for a run and its twin)."""
    rng = np.random.default_rng(seed)
    m = np.float32(momentum)
    out = []
    for layer in range(layers):
        mean = np.full(units, init_mean, np.float32)
        var = np.full(units, init_var, np.float32)
        scale = np.float32(10.0 ** (layer - 2))  # 0.01 to 1: a first layer's small variances too
        for _ in range(k):
            batch_mean = (rng.standard_normal(units) * scale).astype(np.float32)
            batch_var = (rng.uniform(0.5, 4.0, units) * scale).astype(np.float32)
            for _ in range(updates_per_step):
                mean = m * mean + (np.float32(1) - m) * batch_mean
                var = m * var + (np.float32(1) - m) * batch_var
        out.append((mean, var))
    return out


def decay(momentum=M, updates_per_step=1, k=K):
    main = ema(k, momentum, 0.0, 1.0, updates_per_step=updates_per_step)
    twin = ema(k, momentum, SHIFT, 1.0 + SHIFT, updates_per_step=updates_per_step)
    return moving_statistics_decay(main, twin, SHIFT, M, K)


def test_a_correct_ema_decays_by_momentum_to_the_steps():
    result = decay()
    assert result["expected"] == pytest.approx(0.99 ** 300, rel=1e-15)
    assert result["ok"], result
    assert result["max_error_over_tol"] < 0.2  # the bound is worst-case; float32 stays well inside
    assert result["min"] == pytest.approx(0.99 ** 300, rel=1e-3) and result["max"] == pytest.approx(0.99 ** 300, rel=1e-3)


@pytest.mark.parametrize("momentum, per_step, decays_to", [
    (1 - M, 1, 0.0),          # the planted bug: momentum's meaning inverted
    (M, 2, M ** (2 * K)),     # two updates per training step
    (1.0, 1, 1.0),            # the moving statistics never updated
])
def test_wrong_updates_fail_by_far(momentum, per_step, decays_to):
    result = decay(momentum, per_step)
    assert not result["ok"]
    assert result["max_error_over_tol"] > 100
    assert result["min"] == pytest.approx(decays_to, abs=1e-4)


def test_one_step_more_or_less_is_resolved():
    """k - 1 or k + 1 steps change m^k by 1%: outside the bound."""
    for k in (K - 1, K + 1):
        main, twin = ema(k, M, 0.0, 1.0), ema(k, M, SHIFT, 1.0 + SHIFT)
        assert not moving_statistics_decay(main, twin, SHIFT, M, K)["ok"]


def test_layers_must_match():
    with pytest.raises(ValueError, match="same BN layers"):
        moving_statistics_decay(ema(3, M, 0, 1)[:2], ema(3, M, 1, 2), SHIFT, M, 3)


BAND = {"p_star": 0.846, "n": 250, "alpha": 0.001, "low": 0.776, "high": 0.917}


def record(**changes):
    base = {"target": "torch", "versions": {"torch": "2.13.0+cpu"}, "model": "shallow", "bn": True,
            "broken_bn": False, "seed": 0, "data": {"sha256": "ab"}, "bayes": dict(BAND),
            "test_accuracy": 0.70, "recalibrated": {"test_accuracy": 0.85},
            "moving_statistics": {"min": 0.2215, "max": 0.2215, "expected": 0.2215, "ok": True,
                                  "max_error_over_tol": 0.01},
            "epochs": [{"epoch": 1, "loss": 0.40, "val_loss": 0.50}]}
    base.update(changes)
    return copy.deepcopy(base)


def test_bn_runs_are_gated_on_the_recalibrated_accuracy_and_the_decay():
    r = judge(record())
    assert r["verdict"] == "pass"
    assert r["checks"]["accuracy"]["value"] == 0.85
    assert r["checks"]["inference_accuracy"] == {**r["checks"]["inference_accuracy"], "gated": False, "ok": False}
    assert judge(record(recalibrated={"test_accuracy": 0.70}))["verdict"] == "fail"
    assert judge(record(recalibrated={"test_accuracy": 0.95}))["verdict"] == "fail"  # above the band
    bad_decay = {"min": 0.0, "max": 0.0, "expected": 0.2215, "ok": False, "max_error_over_tol": 1e4}
    assert judge(record(moving_statistics=bad_decay))["verdict"] == "fail"


def test_runs_without_bn_are_gated_on_the_test_accuracy():
    assert judge(record(bn=False, recalibrated=None, moving_statistics=None, test_accuracy=0.85))["verdict"] == "pass"
    assert judge(record(bn=False, recalibrated=None, moving_statistics=None, test_accuracy=0.5))["verdict"] == "fail"


def test_a_planted_bug_passes_only_when_caught():
    bad_decay = {"min": 0.0, "max": 0.0, "expected": 0.2215, "ok": False, "max_error_over_tol": 1e4}
    caught = judge(record(broken_bn=True, moving_statistics=bad_decay))
    assert caught["verdict"] == "pass" and caught["control"] == {"caught_by": ["moving_statistics"]}
    missed = judge(record(broken_bn=True))
    assert missed["verdict"] == "fail" and missed["control"] == {"caught_by": []}


def test_loss_gaps_pair_bn_with_no_bn_runs_alike_in_all_else():
    bn = judge(record(epochs=[{"epoch": 1, "loss": 0.30, "val_loss": 0.50}]))  # gap +0.20
    plain = judge(record(bn=False, recalibrated=None, moving_statistics=None, test_accuracy=0.85,
                         epochs=[{"epoch": 1, "loss": 0.40, "val_loss": 0.35}]))  # gap -0.05
    other_seed = judge(record(bn=False, seed=1, recalibrated=None, moving_statistics=None,
                              test_accuracy=0.85, epochs=[{"epoch": 1, "loss": 0.1, "val_loss": 0.9}]))
    control = judge(record(broken_bn=True))
    entries = loss_gaps([bn, plain, other_seed, control])
    assert len(entries) == 1
    entry = entries[0]
    assert entry["gap_bn"] == pytest.approx(0.20) and entry["gap_no_bn"] == pytest.approx(-0.05)
    assert entry["lecture_claim_holds"] is False
    assert bn["checks"]["loss_gap"]["ok"] and bn["verdict"] == "pass"
    # the other direction fails the gated check
    bn2 = judge(record(epochs=[{"epoch": 1, "loss": 0.40, "val_loss": 0.30}]))
    plain2 = judge(record(bn=False, recalibrated=None, moving_statistics=None, test_accuracy=0.85,
                          epochs=[{"epoch": 1, "loss": 0.40, "val_loss": 0.35}]))
    loss_gaps([bn2, plain2])
    assert bn2["loss_gap"]["lecture_claim_holds"] and bn2["verdict"] == "fail"
