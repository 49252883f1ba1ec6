"""Verdict of one run against its baseline.

``judge(record, store)`` fills the record's ``baseline``, ``threshold``, ``margin`` and ``verdict``:

- ``pass`` / ``fail``: a baseline exists for exactly this configuration (the device's platform
  included: :mod:`bnconform.cifar.baselines`) and these versions;
  ``threshold`` is the one-sided 95% prediction bound of its seeds (:mod:`bnconform.cifar.stats`),
  ``margin = test_accuracy - threshold`` (negative: by how much it failed);
- ``no-baseline``: none for these versions. This is shown, not failed: a new framework version
  is expected to have no baseline until someone records one (``python -m bnconform.cifar baseline``). So that
  an upgrade is still compared with something, the newest baseline of the same configuration under
  other versions is attached with ``"exact": false`` and its threshold and margin are filled in for
  information (``"below_previous": true`` when the run falls below that band). ``--require-baseline``
  (CLI) turns ``no-baseline`` into a failure, for CI that must not run ungated.

A deliberately broken BN (``broken_bn``) is judged against the correct model's baseline: that is
how the suite shows the gate catches it.
"""

from __future__ import annotations


from .baselines import Store
from .device import label
from .stats import prediction_bound

VERDICTS = ("pass", "fail", "no-baseline")


def judge(record: dict, store: Store) -> dict:
    """The record with its gate fields filled in (modified in place and returned)."""
    entry = store.exact(record)
    exact = entry is not None
    if entry is None:
        others = store.other_versions(record)
        entry = others[0] if others else None
    if entry is None:
        record.update(baseline=None, threshold=None, margin=None, verdict="no-baseline")
        return record
    bound = prediction_bound(entry["accuracies"])
    margin = record["test_accuracy"] - bound.threshold
    record["baseline"] = {
        "exact": exact, "versions": entry["versions"], "seeds": entry["seeds"],
        "accuracies": entry["accuracies"], "recorded": entry.get("recorded"),
        **bound.as_dict(),
    }
    record["threshold"], record["margin"] = bound.threshold, margin
    if exact:
        record["verdict"] = "pass" if margin >= 0 else "fail"
    else:
        record["verdict"] = "no-baseline"
        record["baseline"]["below_previous"] = margin < 0
    return record


def summary_line(record: dict) -> str:
    """One human line: what ran, accuracy against the band, verdict."""
    what = (f"{record['target']:<16} {record['arch']} {'BN   ' if record['bn'] else 'no-BN'}"
            f"{' (broken BN)' if record.get('broken_bn') else ''} seed {record['seed']} on {label(record)}")
    acc = f"acc {record['test_accuracy']:.4f}"
    if record["threshold"] is None:
        return f"{what}  {acc}  {record['verdict']}"
    b = record["baseline"]
    band = (f"baseline {b['mean']:.4f} +- {b['std']:.4f} (n={b['n']}"
            f"{'' if b['exact'] else ', other versions ' + _versions(b['versions'])}), "
            f"threshold {record['threshold']:.4f}, margin {record['margin']:+.4f}")
    return f"{what}  {acc}  {band}  {record['verdict'].upper()}"


def _versions(versions: dict) -> str:
    return " ".join(f"{k} {v}" for k, v in versions.items())
