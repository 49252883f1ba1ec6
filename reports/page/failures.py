"""Per failure: the minimal (shrunk) example, the errors, the message and the replay command."""

from __future__ import annotations

from typing import Any, Iterable

from ..markup import Markup, el, safe_href
from ..model import Run
from ..schema import op_label
from ..tested import first_line
from .common import badge, fmt, pretty_json, record_anchor

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


def _failure(record: dict[str, Any], open_: bool) -> Markup:
    verdict = record["verdict"]
    mode = record.get("mode")
    where = " · ".join(str(part) for part in (op_label(record), None if mode in (None, "-") else mode,
                                              record.get("dtype")) if part is not None)
    errors = el("table",
                el("thead", el("tr", [el("th", h) for h in ("examples", "max abs err", "max rel err", "max ULP",
                                                             "err / tol")])),
                el("tbody", el("tr", [el("td", fmt(record.get(k)), class_="num") for k in (
                    "examples", "max_abs_error", "max_rel_error", "max_ulp_error", "max_tol_ratio")])))
    items = [el("dt", "test"), el("dd", el("code", record["id"])),
             el("dt", "run"), el("dd", record.get("run") or "-")]
    if verdict == "error":  # the test raised instead of comparing: the exception first
        items += [el("dt", "exception"), el("dd", el("code", first_line(record.get("message"))))]
    items += [el("dt", "errors"), el("dd", errors)]
    entries = record.get("deviations") or ([record["deviation"]] if record.get("deviation") else [])
    explained = record.get("explained") or {}
    if verdict == "known-deviation" and entries:
        for deviation in entries:
            href = safe_href(deviation.get("link"))
            link = el("a", deviation.get("link"), href=href) if href else (deviation.get("link") or "")
            count = explained.get(deviation.get("id"))
            model = _model_text(deviation)
            items += [el("dt", "known deviation"),
                      el("dd", f"#{deviation.get('index')} ",
                         el("code", deviation.get("id") or "?"), " ", el("code", model) if model else "",
                         f" explained {count} example(s). " if count is not None else " ",
                         f"{deviation.get('reason')} ", link)]
    elif record.get("reason"):
        items += [el("dt", "reason"), el("dd", record["reason"])]
    items += [el("dt", "minimal example"),
              el("dd", el("pre", pretty_json(record["example"])) if record.get("example") is not None
                 else el("span", "not reported by the test", class_="muted"))]
    items += [el("dt", "replay"),
              el("dd", el("pre", record["replay"]) if record.get("replay")
                 else el("span", "not reported by the test", class_="muted"))]
    if record.get("message"):
        items += [el("dt", "message"), el("dd", el("pre", record["message"]))]
    return el("details",
              el("summary", badge(verdict), " ", _who(record), " · ", record.get("property") or "?", " · ", where,
                 el("span", f"target {record.get('target')} · run {record.get('run')}", class_="sub")),
              el("dl", items, class_="kv"),
              id=record_anchor(record), class_=f"failure v-{verdict}", open=open_)


def failures_section(runs: Iterable[Run]) -> Markup:
    new, known = [], []
    for run in runs:
        for record in run.records:
            if record["verdict"] in ("fail", "error"):
                new.append(record)
            elif record["verdict"] == "known-deviation":
                known.append(record)
    parts = [el("h2", f"Failures ({len(new)} new, {len(known)} known)")]
    if not new and not known:
        parts.append(el("p", "No property failed.", class_="note"))
    if new:
        parts.append(el("h3", "New failures and errors"))
        parts.extend(_failure(r, True) for r in new)
    if known:
        parts.append(el("h3", "Known deviations (listed in the known-deviations file)"))
        parts.extend(_failure(r, False) for r in known)
    return el("section", parts, id="failures")
