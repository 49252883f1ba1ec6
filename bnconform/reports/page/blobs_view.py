"""The two-blob runs (:mod:`blobs`): every run's checks, and per framework a small plot of the loss
curves and one of the test accuracy with the Bayes-optimal accuracy's line and band. Shown only when
the runs hold ``blobs`` records (``blobs.html.j2``)."""

from __future__ import annotations

import math
from typing import Any, Sequence

from markupsafe import Markup

from ..model import Run
from ..svg import PALETTE, Series, line_chart
from .jinja import render

__all__ = ["blobs_section"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _bn(record: dict) -> str:
    if not record.get("bn"):
        return "no"
    return "inverted momentum" if record.get("broken_bn") else "yes"


def _note(record: dict) -> str | None:
    """Under the verdict: which gated checks failed (for a planted bug: which caught it)."""
    checks = _dict(record.get("checks"))
    failed = [name for name, c in checks.items() if _dict(c).get("gated") and not _dict(c).get("ok")]
    if record.get("broken_bn"):
        return f"planted bug caught by {', '.join(failed)}" if failed else "planted bug NOT caught"
    return f"failed: {', '.join(failed)}" if failed else None


def _decay(record: dict) -> str:
    s = _dict(record.get("moving_statistics"))
    low, high, expected = _number(s.get("min")), _number(s.get("max")), _number(s.get("expected"))
    if low is None or high is None or expected is None:
        return "-"
    return f"{low:.4f} – {high:.4f} (m^k = {expected:.4f})"


def _outside(record: dict) -> bool:
    """A BN run's inference accuracy outside the band (shown under it, not gated)."""
    check = _dict(_dict(record.get("checks")).get("inference_accuracy"))
    return bool(check and not check.get("gated") and check.get("ok") is False)


def _row(record: dict) -> dict[str, Any]:
    """The table's derived cells of one record."""
    band, recal, gap = _dict(record.get("bayes")), _dict(record.get("recalibrated")), _dict(record.get("loss_gap"))
    low, high = _number(band.get("low")), _number(band.get("high"))
    return {"bn": _bn(record), "outside": _outside(record), "recalibrated": recal.get("test_accuracy"),
            "band": f"{low:.3f} – {high:.3f}" if low is not None and high is not None else "-",
            "decay": _decay(record),
            "gap": (f"{gap['gap_bn']:+.3f} / {gap['gap_no_bn']:+.3f}"
                    if _number(gap.get("gap_bn")) is not None and _number(gap.get("gap_no_bn")) is not None else "-"),
            "verdict": str(record.get("verdict") or "-"), "note": _note(record)}


def _points(record: dict, key: str) -> list:
    points = [(_number(e.get("epoch")), _number(e.get(key)))
              for e in record.get("epochs") or [] if isinstance(e, dict)]
    return [(x, y) for x, y in points if x is not None]


def _charts(run: Run, target: str, model: str, pair: dict) -> list[Markup]:
    """Loss curves (training and validation, dashed without BN) and the test accuracy per epoch
    with the Bayes accuracy p* and its band."""
    loss, accuracy = [], []
    for bn, record in sorted(pair.items(), reverse=True):
        tag = "BN" if bn else "no BN"
        loss.append(Series(f"{tag} training loss", _points(record, "loss"), PALETTE[0], dashed=not bn))
        loss.append(Series(f"{tag} validation loss", _points(record, "val_loss"), PALETTE[1], dashed=not bn))
        accuracy.append(Series(f"{tag} test accuracy", _points(record, "val_accuracy"), PALETTE[0],
                               dashed=not bn))
    record = next(iter(pair.values()))
    band = _dict(record.get("bayes"))
    epochs = [x for x, _ in _points(record, "val_accuracy")]
    if epochs and _number(band.get("p_star")) is not None:
        ends = (min(epochs), max(epochs))
        accuracy.append(Series(f"Bayes p* = {band['p_star']:.3f}", [(x, band["p_star"]) for x in ends],
                               PALETTE[4]))
        for side in ("low", "high"):
            if _number(band.get(side)) is not None:
                accuracy.append(Series(f"band {side} {band[side]:.3f}", [(x, band[side]) for x in ends],
                                       PALETTE[9], dashed=True))
    seed = record.get("seed")
    title = f"{target} · {model} · seed {seed}"
    return [line_chart(f"{title}: loss", loss, x_label="epoch", y_label="loss", width=380, height=220),
            line_chart(f"{title}: test accuracy", accuracy, x_label="epoch", y_label="accuracy",
                       width=380, height=220)]


def blobs_section(runs: Sequence[Run]) -> Markup | None:
    entries = [(run, r) for run in runs for r in run.doc.get("blobs", []) if isinstance(r, dict)]
    if not entries:
        return None
    groups: dict = {}
    for run, r in entries:
        if r.get("broken_bn"):
            continue
        key = (run.name, r.get("target"), r.get("model"))
        seeds = groups.setdefault(key, {})
        seeds.setdefault(r.get("seed"), {})[bool(r.get("bn"))] = r
    charts = []
    for (run_name, target, model), seeds in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        run = next(run for run, _ in entries if run.name == run_name)
        lowest = min(seeds, key=lambda s: (s is None, s))
        charts += _charts(run, str(target), str(model), seeds[lowest])
    return render("blobs.html.j2", first=_dict(entries[0][1].get("bayes")), number=_number, charts=charts,
                  rows=[(run, r, _row(r)) for run, r in entries])
