"""Drift: for the same replayed cases, how far each op's output moved between two runs, in ULPs."""

from __future__ import annotations

import math
from typing import Sequence

from ..drift import DriftRow, drift_rows
from markupsafe import Markup

from ..model import Run, version_key
from ..svg import bar_chart
from .common import fmt
from .jinja import render

__all__ = ["drift_section", "compute_drift"]


def _backend_version(run: Run, target: str) -> str | None:
    return next((r.get("backend_version") for r in run.records if r.get("target") == target), None)


def compute_drift(runs: Sequence[Run]) -> list[DriftRow]:
    """Drift between runs of the same target that differ in exactly one thing: the framework's
    version or its backend's (so a Keras upgrade and a TensorFlow upgrade are never mixed in one
    comparison). Where no such pair exists, consecutive runs in version order are compared."""
    prepared = []
    for order, run in enumerate(runs):
        prepared.append({"name": run.name, "versions": run.target_versions(), "drift": run.doc["drift"],
                         "order": order, "run": run})
    rows: list[DriftRow] = []
    targets = sorted({entry["target"] for run in prepared for entry in run["drift"]})
    for target in targets:
        having = [dict(run, drift=[e for e in run["drift"] if e["target"] == target],
                       backend=_backend_version(run["run"], target))
                  for run in prepared if any(e["target"] == target for e in run["drift"])]
        having.sort(key=lambda r: (version_key(r["versions"].get(target)), version_key(r["backend"]), r["order"]))
        pairs = [(a, b) for i, a in enumerate(having) for b in having[i + 1:]
                 if (a["versions"].get(target) != b["versions"].get(target)) != (a["backend"] != b["backend"])]
        if not pairs:
            pairs = list(zip(having, having[1:]))
        for a, b in pairs:
            rows.extend(drift_rows([a, b]))
    return rows


def _color(max_ulp: float) -> str:
    if not math.isfinite(max_ulp):
        return "#8e44ad"
    if max_ulp == 0:
        return "#3a9d5d"
    if max_ulp <= 4:
        return "#f0a030"
    return "#d64541"


def _target(r: DriftRow) -> str:
    """The target, with its device where it is not the cpu (runs on different devices are never compared)."""
    return r.target if r.platform == "cpu" else f"{r.target} [{r.platform}]"


def drift_section(rows: Sequence[DriftRow], runs_with_drift: int) -> Markup:
    if not rows:
        why = ("no run stored drift outputs" if runs_with_drift == 0 else
               "drift needs the same target in at least two runs")
        return render("drift.html.j2", rows=[], why=why)
    bars = [(f"{_target(r)} {r.op} {r.dtype}: {r.before} → {r.after}", r.max_ulp, _color(r.max_ulp),
             f"{r.cases_changed}/{r.cases} cases changed") for r in rows]
    chart = bar_chart("max ULP distance", bars, axis_label="ULPs (log scale)", log=True)
    return render("drift.html.j2", chart=chart,
                  rows=[(r, _target(r), "∞" if not math.isfinite(r.max_ulp) else fmt(r.max_ulp, 6)) for r in rows])
