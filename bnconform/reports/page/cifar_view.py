"""CIFAR-10 training: curves per epoch, final accuracy against the baseline band (with and
without batch norm), and throughput. Shown only when the runs hold ``cifar`` records (``cifar.html.j2``).

Every run is named with the device it trained on (:func:`bnconform.reports.schema.device_label`; a record
without one ran on the CPU), and the device stands next to its images/s: GPU and CPU figures of one
framework side by side. BN/no-BN pairs are of one device."""

from __future__ import annotations

import math
from statistics import fmean
from typing import Any, Sequence

from markupsafe import Markup

from ..model import Run
from ..schema import device_label
from ..svg import PALETTE, Interval, Series, bar_chart, interval_chart, line_chart
from .common import fmt
from .jinja import render
from .style import VERDICT_COLORS

__all__ = ["cifar_section", "baseline_band", "bn_pairs"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def baseline_band(baseline: Any) -> tuple[float, float] | None:
    """The accuracy range a baseline describes: ``low``/``high``, ``min``/``max``, or mean ± std."""
    if not isinstance(baseline, dict):
        return None
    for low_key, high_key in (("low", "high"), ("min", "max"), ("lower", "upper")):
        low, high = _number(baseline.get(low_key)), _number(baseline.get(high_key))
        if low is not None and high is not None:
            return (min(low, high), max(low, high))
    mean, std = _number(baseline.get("mean")), _number(baseline.get("std"))
    if mean is not None and std is not None:
        return (mean - std, mean + std)
    return None


def _name(run: Run, record: dict[str, Any]) -> str:
    bn = "BN" if record.get("bn") else "no BN"
    return f"{record.get('target')} {record.get('arch', '?')} {bn} on {device_label(record)} · {run.name}"


def _images_per_s(record: dict[str, Any]) -> float | None:
    values = [_number(e.get("images_per_s")) for e in record.get("epochs") or [] if isinstance(e, dict)]
    values = [v for v in values if v is not None]
    return fmean(values) if values else None


def bn_pairs(entries) -> list[tuple[Run, dict[str, Any], dict[str, Any], float | None]]:
    """(run of the BN record, BN record, no-BN record, accuracy difference) for every two records
    alike in all but ``bn`` (target, versions, arch, profile, seed, broken_bn, data copy, device)."""

    def key(record):
        data = record.get("data") if isinstance(record.get("data"), dict) else {}
        return (record.get("target"), repr(record.get("versions")), record.get("arch"), record.get("profile"),
                record.get("seed"), bool(record.get("broken_bn")), data.get("sha256"), device_label(record))

    without = {key(r): r for _, r in entries if not r.get("bn")}
    pairs = []
    for run, record in entries:
        plain = without.get(key(record)) if record.get("bn") else None
        if plain is not None:
            a, b = _number(record.get("test_accuracy")), _number(plain.get("test_accuracy"))
            pairs.append((run, record, plain, a - b if a is not None and b is not None else None))
    return pairs


def cifar_section(runs: Sequence[Run]) -> Markup | None:
    entries = [(run, record) for run in runs for record in run.doc["cifar"] if isinstance(record, dict)]
    if not entries:
        return None
    rows = []
    for run, record in entries:
        data = record.get("data") if isinstance(record.get("data"), dict) else {}
        rows.append((run, record, baseline_band(record.get("baseline")), data, str(record.get("verdict") or "-")))
    colors = {}
    for run, record in entries:
        colors.setdefault(_color_key(run, record), PALETTE[len(colors) % len(PALETTE)])
    charts = []
    for arch in sorted({str(r.get("arch")) for _, r in entries}):
        for metric, label in (("val_accuracy", "validation accuracy"), ("loss", "training loss")):
            series = []
            for run, record in entries:
                if str(record.get("arch")) != arch:
                    continue
                points = [(_number(e.get("epoch")), _number(e.get(metric)))
                          for e in record.get("epochs") or [] if isinstance(e, dict)]
                points = [(x, y) for x, y in points if x is not None]
                if points:
                    series.append(Series(_name(run, record), points,
                                         colors[_color_key(run, record)],
                                         dashed=not record.get("bn")))
            if series:
                charts.append(line_chart(f"arch {arch}: {label}", series, x_label="epoch", y_label=label))
    intervals = []
    for run, record in entries:
        band = baseline_band(record.get("baseline"))
        verdict = str(record.get("verdict"))
        accuracy = _number(record.get("test_accuracy"))
        intervals.append(Interval(_name(run, record), accuracy, band[0] if band else None,
                                  band[1] if band else None, _number(record.get("threshold")),
                                  VERDICT_COLORS.get(verdict, "#4e79a7"),
                                  f"{_name(run, record)}: test accuracy {fmt(accuracy, 4)} ({verdict})"))
    accuracy_chart = interval_chart("final test accuracy (band: baseline, red tick: threshold)", intervals,
                                    axis_label="test accuracy")
    bars = [(_name(run, record), _images_per_s(record), colors[_color_key(run, record)],
             f"{_name(run, record)}: {fmt(_images_per_s(record), 4)} images/s") for run, record in entries]
    bars = [b for b in bars if b[1] is not None]
    throughput_chart = (bar_chart("training throughput (mean over epochs)", bars, axis_label="images per second")
                        if bars else None)
    return render("cifar.html.j2", rows=rows, pairs=bn_pairs(entries), charts=charts, accuracy_chart=accuracy_chart,
                  throughput_chart=throughput_chart, number=_number, images_per_s=_images_per_s,
                  device_label=device_label)


def _color_key(run: Run, record: dict[str, Any]) -> tuple:
    """One colour per run, target, model and device."""
    return (run.name, record.get("target"), record.get("arch"), device_label(record))
