"""Per failure: the minimal (shrunk) example, the errors, the message and the replay command
(``failures.html.j2``)."""

from __future__ import annotations

from typing import Any, Iterable

from markupsafe import Markup

from ..model import Run
from ..schema import op_label
from .jinja import render

__all__ = ["failures_section"]


def _who(record: dict[str, Any]) -> str:
    text = f"{record.get('framework')} {record.get('version') or '(version unknown)'}"
    if record.get("backend"):
        text += f" [{record['backend']}]"
    return text


def _model_text(deviation: dict[str, Any]) -> str:
    if not deviation.get("model"):
        return ""
    params = deviation.get("params") or {}
    return f"{deviation['model']}({', '.join(f'{k}={v!r}' for k, v in params.items())})"


def _where(record: dict[str, Any]) -> str:
    mode = record.get("mode")
    return " · ".join(str(part) for part in (op_label(record), None if mode in (None, "-") else mode,
                                             record.get("dtype")) if part is not None)


def _entries(record: dict[str, Any]) -> list[dict[str, Any]]:
    return record.get("deviations") or ([record["deviation"]] if record.get("deviation") else [])


def failures_section(runs: Iterable[Run]) -> Markup:
    new, known = [], []
    for run in runs:
        for record in run.records:
            if record["verdict"] in ("fail", "error"):
                new.append(record)
            elif record["verdict"] == "known-deviation":
                known.append(record)
    return render("failures.html.j2", new=new, known=known, who=_who, where=_where, model_text=_model_text,
                  deviation_entries=_entries)
