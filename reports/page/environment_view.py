"""The environment of each run side by side: Python, OS, hardware (with the CPU flags and settings that
decide which kernels a framework takes), framework versions and the packages whose versions differ
between runs (full ``pip freeze`` folded away)."""

from __future__ import annotations

from typing import Any, Sequence

from ..markup import Markup, el
from ..model import Run

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
    head = el("tr", el("th", ""), [el("th", run.name) for run in runs])
    rows = []

    def add(label: str, values: list[str], highlight: bool = True) -> None:
        differs = highlight and len(set(values)) > 1
        rows.append(el("tr", el("th", label, scope="row"),
                       [el("td", v, class_="differs" if differs else None) for v in values]))

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
    parts = [el("h2", "Environment"),
             el("div", el("table", el("thead", head), el("tbody", rows)), style="overflow-x:auto")]
    freezes = [_freeze(run.doc["environment"]) for run in runs]
    if len(runs) > 1:
        names = sorted(set().union(*freezes))
        changed = [n for n in names if len({f.get(n) for f in freezes}) > 1]
        if changed:
            parts.append(el("h3", f"Packages that differ between runs ({len(changed)})"))
            parts.append(el("table", el("thead", head),
                            el("tbody", [el("tr", el("th", n, scope="row"),
                                            [el("td", f.get(n, "—")) for f in freezes]) for n in changed])))
    for run, freeze in zip(runs, freezes):
        parts.append(el("details", el("summary", f"pip freeze of {run.name} ({len(freeze)} packages)"),
                        el("pre", "\n".join(f"{n}=={v}" for n, v in freeze.items()))))
    return el("section", parts, id="environment")
