"""The statistical gate: t quantiles, the prediction bound, baselines and verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bnconform.cifar import stats
from bnconform.cifar.baselines import Store
from bnconform.cifar.verdict import judge, summary_line

from .records import record

# Student t quantiles t_{p, df} from published tables to 6 decimals (e.g. NIST/SEMATECH e-Handbook,
# table 1.3.6.7.2, which prints 3; Abramowitz and Stegun, table 26.10): 2.776445 is t_{0.975, 4}
T_TABLE = [(0.95, 1, 6.313752), (0.95, 2, 2.919986), (0.95, 3, 2.353363), (0.95, 4, 2.131847),
           (0.95, 9, 1.833113), (0.95, 29, 1.699127), (0.975, 4, 2.776445), (0.975, 10, 2.228139),
           (0.99, 5, 3.364930), (0.95, 100, 1.660234)]


@pytest.mark.parametrize("p, df, expected", T_TABLE)
def test_t_quantile_matches_tables(p, df, expected):
    assert stats.t_quantile(p, df) == pytest.approx(expected, abs=5e-7)
    assert stats.t_quantile(1 - p, df) == pytest.approx(-expected, abs=5e-7)


def test_t_quantile_refuses_bad_arguments():
    for p in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="p must be"):
            stats.t_quantile(p, 4)
    with pytest.raises(ValueError, match="df must be"):
        stats.t_quantile(0.95, 0)


@pytest.mark.parametrize("n, t_table", [(3, 2.919986), (5, 2.131847), (6, 2.015048)])
def test_gate_decides_at_the_tabled_bound(tmp_path, n, t_table):
    """The gate's decision on known-answer data: ``n`` seeds give the one-sided 95% bound with
    t_{0.95, n-1} from the table (not t_{0.975}, not n degrees of freedom); a run 1e-6 above it
    passes, 1e-6 below fails."""
    accuracies = [0.60 + 0.01 * i for i in range(n)]
    mean = sum(accuracies) / n
    s = math.sqrt(sum((a - mean) ** 2 for a in accuracies) / (n - 1))
    threshold = mean - t_table * s * math.sqrt(1 + 1 / n)
    store = _store(tmp_path, accuracies=accuracies)
    assert judge(record(test_accuracy=threshold + 1e-6), store)["verdict"] == "pass"
    below = judge(record(test_accuracy=threshold - 1e-6), store)
    assert below["verdict"] == "fail" and below["baseline"]["t"] == pytest.approx(t_table, abs=5e-7)


def test_prediction_bound_known_answer():
    # by hand: mean 0.71; deviations -0.01, 0.01, 0, 0.02, -0.02; sum of squares 0.001;
    # s = sqrt(0.001 / 4) = 0.0158114; t_{0.95,4} = 2.1318468; sqrt(1 + 1/5) = 1.0954451;
    # threshold = 0.71 - 2.1318468 * 0.0158114 * 1.0954451 = 0.71 - 0.0369247 = 0.6730753
    bound = stats.prediction_bound([0.70, 0.72, 0.71, 0.73, 0.69])
    assert bound.n == 5 and bound.mean == pytest.approx(0.71, abs=1e-15)
    assert bound.std == pytest.approx(0.0158114, abs=1e-7)
    assert bound.t == pytest.approx(2.1318468, abs=1e-7)
    assert bound.threshold == pytest.approx(0.6730753, abs=1e-7)
    # three seeds: s = 0.01, t_{0.95,2} = 2.9199856, sqrt(4/3): 0.71 - 0.0337170 = 0.6762830
    assert stats.prediction_bound([0.70, 0.71, 0.72]).threshold == pytest.approx(0.6762830, abs=1e-7)


def test_prediction_bound_refuses_too_few_values():
    with pytest.raises(ValueError, match="values"):
        stats.prediction_bound([0.7])
    with pytest.raises(ValueError, match="alpha"):
        stats.prediction_bound([0.7, 0.8], alpha=0.7)


def test_false_alarm_rate_is_five_percent():
    """The property the gate rests on: an unchanged framework (new run from the same normal
    distribution as the baseline seeds) fails 5% of the time, whatever n, mean and spread."""
    rng = np.random.default_rng(0)
    trials = 20_000
    for n in (3, 5):
        runs = rng.normal(0.7, 0.013, size=(trials, n + 1))
        failures = 0
        for row in runs:
            failures += row[-1] < stats.prediction_bound(row[:-1]).threshold
        rate = failures / trials
        # binomial standard error at 5% and 20,000 trials: 0.0015; allow 4 of them
        assert abs(rate - 0.05) < 4 * math.sqrt(0.05 * 0.95 / trials), (n, rate)


# -- baselines and verdicts ---------------------------------------------------------------------

def _store(tmp_path, accuracies=(0.60, 0.62, 0.61, 0.63, 0.59), **changes) -> Store:
    store = Store.load(tmp_path / "baselines.json")
    store.record([record(seed=s, test_accuracy=a, **changes) for s, a in enumerate(accuracies)],
                 command="test")
    return store


def test_recorded_baseline_round_trips(tmp_path):
    store = _store(tmp_path)
    store.save()
    loaded = Store.load(tmp_path / "baselines.json")
    assert len(loaded.entries) == 1
    entry = loaded.entries[0]
    assert entry["accuracies"] == [0.60, 0.62, 0.61, 0.63, 0.59] and entry["seeds"] == [0, 1, 2, 3, 4]
    assert entry["band"]["threshold"] == pytest.approx(0.5730753, abs=1e-7)
    assert entry["protocol"]["epochs"] == 6 and entry["data_sha256"] == "ab" * 32
    doc = json.loads((tmp_path / "baselines.json").read_text())
    assert doc["schema"] == "bnconform-cifar-baselines/1"
    _store(tmp_path, accuracies=(0.5, 0.51, 0.52))  # same key again: replaced, not added
    assert len(Store.load(tmp_path / "baselines.json").entries) == 1


def test_pass_and_fail_report_threshold_and_margin(tmp_path):
    store = _store(tmp_path)
    passed = judge(record(test_accuracy=0.58), store)
    assert passed["verdict"] == "pass"
    assert passed["threshold"] == pytest.approx(0.5730753, abs=1e-7)
    assert passed["margin"] == pytest.approx(0.58 - 0.5730753, abs=1e-7)
    assert passed["baseline"]["exact"] is True and passed["baseline"]["n"] == 5
    failed = judge(record(test_accuracy=0.55), store)
    assert failed["verdict"] == "fail" and failed["margin"] == pytest.approx(-0.0230753, abs=1e-7)
    assert "FAIL" in summary_line(failed) and "margin -0.0231" in summary_line(failed)


def test_other_versions_give_no_baseline_with_the_previous_band_for_information(tmp_path):
    store = _store(tmp_path)
    new = judge(record(versions={"torch": "2.14.0+cpu"}, version="2.14.0+cpu", test_accuracy=0.5),
                store)
    assert new["verdict"] == "no-baseline"
    assert new["baseline"]["exact"] is False and new["baseline"]["versions"] == {"torch": "2.13.0+cpu"}
    assert new["baseline"]["below_previous"] is True and new["margin"] < 0


def test_nothing_comparable_gives_no_baseline(tmp_path):
    store = _store(tmp_path)
    for changes in ({"target": "flax-linen"}, {"arch": "B"}, {"bn": False}, {"profile": "standard"},
                    {"data": {**record()["data"], "sha256": "cd" * 32}},
                    {"data": {**record()["data"], "n_train": 5000}},
                    {"machine": {"threads": 2}}):
        judged = judge(record(**changes), store)
        assert judged["verdict"] == "no-baseline" and judged["threshold"] is None, changes


def test_broken_bn_is_judged_against_the_correct_models_baseline(tmp_path):
    store = _store(tmp_path)
    judged = judge(record(broken_bn=True, test_accuracy=0.50), store)
    assert judged["verdict"] == "fail" and judged["baseline"]["exact"]


def test_baselines_need_three_distinct_seeds_of_one_configuration(tmp_path):
    store = Store.load(tmp_path / "b.json")
    with pytest.raises(ValueError, match="at least 3"):
        store.record([record(seed=0), record(seed=1)])
    with pytest.raises(ValueError, match="distinct"):
        store.record([record(seed=0), record(seed=0), record(seed=1)])
    with pytest.raises(ValueError, match="one configuration"):
        store.record([record(seed=0), record(seed=1), record(seed=2, arch="B")])
    with pytest.raises(ValueError, match="broken"):
        store.record([record(seed=s, broken_bn=True) for s in range(3)])
