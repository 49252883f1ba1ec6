"""The tolerance model's verdicts and ratios are those it gave before ``bnconform/bounds/`` (issue 21).

``data/verdict_digest_base.json`` was written by ``benchmarks.verdict_digest`` at the base commit
e13d3b9 (``tolerance.py`` and ``noise.py`` each with its own copy of the model), on a slice of its
corpus that needs no framework: every tenth example of ``verdict_digest.branches`` (batch norm
forward, backward and moving statistics in training and inference, float64 to bfloat16, honest,
scaled and noisy answers, constant features and repeated values, the variants' numerics;
convolution and every pooling kind in both layouts) and the sensitivity matrix at small size at
three deltas. Judged again now, each must give

- the same verdict, mismatch count and statistical-tier findings (as printed);
- the same worst-case |err| / tol and tolerance at the largest error, to the last bit;
- the same statistical-tier margin to within 4 ulps: reassociated float64 sums in the refactoring
  (dgamma's carried terms, bn_forward's own errors, the convolution's stored roundings; the commit
  that made bnconform/bounds/ lists them) moved some by 1 to 4 ulps, and none by more.

The full digest (a conformance run's examples too) is ``python -m benchmarks.verdict_digest``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from benchmarks import verdict_digest

PINNED = json.loads((Path(__file__).parent / "data" / "verdict_digest_base.json").read_text())["examples"]
STAT_ULPS = 4


def _ulps(a: str, b: str) -> int:
    x, y = (struct.unpack("<q", struct.pack("<d", float.fromhex(v)))[0] for v in (a, b))
    return abs(x - y)


@pytest.fixture(scope="module")
def judged() -> dict:
    out = {key: verdict_digest._judged(ex, numerics) for key, ex, numerics in verdict_digest.branches()
           if key in PINNED}
    out.update((key, verdict_digest._judged(ex)) for key, ex in verdict_digest.sensitivity_matrix(sizes=("small",))
               if key in PINNED)
    return out


def test_the_slice_is_judged_whole(judged):
    assert sorted(judged) == sorted(PINNED)
    assert sum(1 for v in PINNED.values() if not all(c["ok"] for c in v)) > 50  # failing examples pinned too
    assert sum(1 for v in PINNED.values() if any(c["systematic"] for c in v)) > 20  # and the tier's findings


def test_verdicts_and_worst_case_ratios_are_the_base_commits_to_the_bit(judged):
    fields = ("name", "ok", "n_mismatch", "systematic", "max_ratio", "tol_at_max_abs")
    differ = [(key, i, f) for key, base in PINNED.items() for i, (b, a) in enumerate(zip(base, judged[key]))
              for f in fields if b[f] != a[f]]
    assert not differ, differ[:5]
    assert all(len(judged[key]) == len(base) for key, base in PINNED.items())


def test_statistical_margins_are_the_base_commits_within_a_few_ulps(judged):
    differ = []
    for key, base in PINNED.items():
        for b, a in zip(base, judged[key]):
            if (b["stat_ratio"] is None) != (a["stat_ratio"] is None) or (
                    b["stat_ratio"] is not None and _ulps(b["stat_ratio"], a["stat_ratio"]) > STAT_ULPS):
                differ.append((key, b["name"], b["stat_ratio"], a["stat_ratio"]))
    assert not differ, differ[:5]
