"""The two-blob runs (:mod:`blobs`): every run's checks, and per framework a small plot of the loss
curves and one of the test accuracy with the Bayes-optimal accuracy's line and band. Shown only when
the runs hold ``blobs`` records."""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..markup import Markup, el
from ..model import Run
from ..svg import PALETTE, Series, line_chart
from .common import badge, fmt
from .style import VERDICT_COLORS

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


def _verdict(record: dict) -> Markup:
    verdict = str(record.get("verdict") or "-")
    mark = badge(verdict) if verdict in VERDICT_COLORS else verdict
    checks = _dict(record.get("checks"))
    failed = [name for name, c in checks.items() if _dict(c).get("gated") and not _dict(c).get("ok")]
    if record.get("broken_bn"):
        note = f"planted bug caught by {', '.join(failed)}" if failed else "planted bug NOT caught"
    else:
        note = f"failed: {', '.join(failed)}" if failed else None
    return el("td", mark, el("span", note, class_="sub") if note else None)


def _decay(record: dict) -> str:
    s = _dict(record.get("moving_statistics"))
    low, high, expected = _number(s.get("min")), _number(s.get("max")), _number(s.get("expected"))
    if low is None or high is None or expected is None:
        return "-"
    return f"{low:.4f} – {high:.4f} (m^k = {expected:.4f})"


def _outside(record: dict) -> Markup | None:
    """A note under a BN run's inference accuracy when it is outside the band (shown, not gated)."""
    check = _dict(_dict(record.get("checks")).get("inference_accuracy"))
    if check and not check.get("gated") and check.get("ok") is False:
        return el("span", "outside the band; not gated", class_="sub")
    return None


def _table(entries) -> Markup:
    head = el("tr", [el("th", h) for h in (
        "target", "framework", "model", "BN", "seed", "test accuracy", "recalibrated",
        "Bayes band", "moving-statistics decay", "loss gap BN / no BN", "seconds", "verdict")])
    rows = []
    for run, r in entries:
        band, recal, gap = _dict(r.get("bayes")), _dict(r.get("recalibrated")), _dict(r.get("loss_gap"))
        low, high = _number(band.get("low")), _number(band.get("high"))
        rows.append(el("tr",
                       el("td", r.get("target"), el("span", run.name, class_="sub")),
                       el("td", f"{r.get('framework')} {r.get('version') or ''}"
                                + (f" [{r['backend']}]" if r.get("backend") else "")),
                       el("td", r.get("model")), el("td", _bn(r)), el("td", fmt(r.get("seed"))),
                       el("td", fmt(_number(r.get("test_accuracy")), 4), _outside(r), class_="num"),
                       el("td", fmt(_number(recal.get("test_accuracy")), 4), class_="num"),
                       el("td", f"{low:.3f} – {high:.3f}" if low is not None and high is not None else "-",
                          class_="num"),
                       el("td", _decay(r), class_="num"),
                       el("td", f"{gap['gap_bn']:+.3f} / {gap['gap_no_bn']:+.3f}"
                          if _number(gap.get("gap_bn")) is not None and _number(gap.get("gap_no_bn")) is not None
                          else "-", class_="num"),
                       el("td", fmt(_number(r.get("wall_seconds")), 3), class_="num"),
                       _verdict(r)))
    return el("table", el("thead", head), el("tbody", rows))


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
    first = _dict(entries[0][1].get("bayes"))
    parts = [el("h2", "Two blobs: the Bayes-optimal check"),
             el("p", "The lecture's deep and shallow networks on two Gaussian blobs, trained in each framework "
                     "from the same weights in the same order. Gated: the test accuracy (with BN after "
                     "recalibrating the moving statistics) in the sampling band of the Bayes accuracy "
                     f"p* = {fmt(_number(first.get('p_star')), 4)} for {first.get('n', '?')} test points "
                     f"(alpha {first.get('alpha', '?')} per side); with BN, the moving statistics' decay "
                     "against a twin run (exactly momentum^steps); and the direction of the loss gap "
                     "measured on every seed. A planted bug (inverted momentum) passes when it is caught.",
                class_="note")]
    parts.append(_table(entries))
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
    if charts:
        parts.append(el("h3", "Curves (the lowest seed of each target and network)"))
        parts.append(el("div", charts, class_="charts"))
    return el("section", parts, id="blobs")
