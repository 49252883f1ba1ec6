"""The environment of each run side by side: Python, OS, hardware (with the CPU flags and settings that
decide which kernels a framework takes), framework versions and the packages whose versions differ
between runs (full ``pip freeze`` folded away; ``environment.html.j2``)."""

from __future__ import annotations

from typing import Any, Sequence

from markupsafe import Markup

from ..model import Run
from .jinja import render

__all__ = ["environment_section"]


def _freeze(environment: dict[str, Any]) -> dict[str, str]:
    out = {}
    for line in environment.get("pip_freeze") or []:
        name, sep, version = str(line).partition("==")
        out[name] = version if sep else ""
    return out


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _setting(environment: dict[str, Any], name: str) -> str:
    settings = environment.get("kernel_settings")
    if not isinstance(settings, dict):
        return "(not recorded)"
    value = settings.get(name)
    return "unset (the framework's default)" if value is None else str(value)


def environment_section(runs: Sequence[Run]) -> Markup:
    rows: list[tuple[str, list[str], bool]] = []

    def add(label: str, values: list[str], highlight: bool = True) -> None:
        rows.append((label, values, highlight and len(set(values)) > 1))

    add("results file", [run.path for run in runs], highlight=False)
    add("complete", ["yes" if run.complete else "NO (" + _text(run.doc["run"].get("stopped")) + ")"
                     for run in runs])
    for key in ("started", "finished", "profile", "command"):
        add(key, [_text(run.doc["run"].get(key)) for run in runs], highlight=key == "profile")
    for key in ("python", "platform", "cpu", "cpu_count", "gpu"):
        add(key, [_text(run.doc["environment"].get(key)) for run in runs])
    if any("cpu_flags" in run.doc["environment"] for run in runs):  # files before they were recorded lack it
        add("cpu flags", [_text(run.doc["environment"].get("cpu_flags")) if "cpu_flags" in run.doc["environment"]
                          else "(not recorded)" for run in runs])
    settings = sorted({name for run in runs for name in (run.doc["environment"].get("kernel_settings") or {})})
    for name in settings:
        add(name, [_setting(run.doc["environment"], name) for run in runs])
    frameworks = sorted({name for run in runs for name in (run.doc["environment"].get("frameworks") or {})})
    for name in frameworks:
        add(name, [_text((run.doc["environment"].get("frameworks") or {}).get(name)) for run in runs])
    freezes = [_freeze(run.doc["environment"]) for run in runs]
    changed = []
    if len(runs) > 1:
        names = sorted(set().union(*freezes))
        changed = [n for n in names if len({f.get(n) for f in freezes}) > 1]
    return render("environment.html.j2", runs=list(runs), rows=rows, freezes=freezes, changed=changed,
                  freeze_text=lambda freeze: "\n".join(f"{n}=={v}" for n, v in freeze.items()))
