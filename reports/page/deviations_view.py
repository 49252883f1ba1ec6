"""The known-deviations file against these results: per entry its model and parameters, how many
examples it explained, and whether it is active, not reached, stale (no tested version in range) or
unused."""

from __future__ import annotations

from typing import Sequence

from ..deviations import EntryStatus
from ..markup import Markup, el, safe_href

__all__ = ["deviations_section"]

_EXPLAIN = {
    "active": "its model explained failing examples: the deviation is still there",
    "stale": "no tested version of the framework is in its range: examine the new version, then update "
             "or remove the entry",
    "unused": "a tested version is in range but no test matches: renamed property or typo?",
    "not-tested": "its framework is not in these results",
    "inconclusive": "the tests it covers were skipped or raised errors",
    "not-reached": "its tests ran and no example needed it (its inputs are rare, or it is fixed)",
}
_CLASS = {"stale": "warn", "unused": "warn"}


def deviations_section(statuses: Sequence[EntryStatus] | None, source: str | None) -> Markup:
    parts = [el("h2", "Known deviations")]
    if source is None:
        parts.append(el("p", "No known-deviations file was given; verdicts are as the runs recorded them.",
                        class_="note"))
        return el("section", parts, id="deviations")
    parts.append(el("p", f"From {source}. Verdicts in this report were re-derived with this file.", class_="note"))
    if not statuses:
        parts.append(el("p", "The file lists no deviations.", class_="note"))
        return el("section", parts, id="deviations")
    head = el("tr", [el("th", h) for h in ("#", "entry", "model", "framework", "versions", "target", "property",
                                            "op", "mode", "dtype", "status", "examples explained (tests)",
                                            "tested versions", "reason")])
    body = []
    for status in statuses:
        d = status.deviation
        href = safe_href(d.link)
        link = el("a", "link", href=href) if href else el("span", d.link, class_="muted")
        body.append(el("tr",
                       el("td", str(d.index)), el("td", el("code", d.id)), el("td", el("code", d.model_text)),
                       el("td", d.framework), el("td", d.versions),
                       el("td", d.target), el("td", d.property), el("td", d.op if d.kind == "*" else f"{d.op} ({d.kind})"), el("td", d.mode),
                       el("td", d.dtype),
                       el("td", el("span", status.status, class_=_CLASS.get(status.status)),
                          el("span", _EXPLAIN[status.status], class_="sub"),
                          id=f"deviation-{d.index}", data_status=status.status),
                       el("td", f"{status.examples} ({status.tests})", class_="num"),
                       el("td", ", ".join(status.tested_versions) or "-"),
                       el("td", d.reason, " ", link)))
    parts.append(el("table", el("thead", head), el("tbody", body), class_="deviations"))
    return el("section", parts, id="deviations")
