"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network).

:func:`render_page` lays out the sections; each section lives in its own module. All text
goes through :mod:`reports.markup`, which escapes everything that is not markup this
package wrote itself.
"""

from __future__ import annotations

from collections import Counter

from ..gate import GateOutcome
from ..markup import Markup, el
from ..model import Results
from ..schema import VERDICTS
from ..writer import now_iso
from .blobs_view import blobs_section
from .cifar_view import cifar_section
from .changes import changes_section
from .common import badge
from .coverage_view import coverage_section
from .deviations_view import deviations_section
from .drift_view import compute_drift, drift_section
from .environment_view import environment_section
from .failures import failures_section
from .fingerprints import fingerprints_section
from .matrix import cell_details_section, matrix_section
from .style import CSS
from .tolerance import tolerance_section

__all__ = ["render_page"]


def _header(results: Results, gate: GateOutcome, title: str, generated: str) -> Markup:
    counts: Counter = results.verdict_counts()
    runs = ", ".join(f"{run.name}{'' if run.complete else ' (INCOMPLETE)'}" for run in results.runs)
    verdict = "pass" if gate.code == 0 else "fail"
    banner = el("div", "Gate: " + ("PASS — everything conforms or deviates as known" if gate.code == 0 else
                                   "FAIL — do not upgrade before reading the failures"),
                class_=f"banner {verdict}", id="gate", data_exit=str(gate.code))
    return el("header",
              el("h1", title),
              el("div", f"{len(results.runs)} run(s): {runs} · generated {generated}", class_="meta"),
              banner,
              el("ul", [el("li", reason) for reason in gate.reasons], class_="reasons") if gate.reasons else None,
              el("div", [badge(v, f"{counts[v]} {v}") for v in VERDICTS if counts[v]] or "no records",
                 class_="totals", id="totals"),
              el("ul", [el("li", w) for w in gate.warnings[:10]], class_="warnings", id="warnings")
              if gate.warnings else None)


def render_page(results: Results, gate: GateOutcome, *, deviations_source: str | None = None,
                title: str = "bnconform report", generated: str | None = None) -> str:
    """The whole report as an HTML document (a ``str`` to write to ``index.html``)."""
    generated = generated or now_iso()
    drift_rows = compute_drift(results.runs)
    sections = [
        ("matrix", "Overview", matrix_section(results.matrix)),
        ("changes", "Versions", changes_section(results.runs)),
        ("failures", "Failures", failures_section(results.runs)),
        ("deviations", "Known deviations", deviations_section(
            results.statuses if results.deviations is not None else None, deviations_source)),
        ("tolerance", "Errors vs tolerance", tolerance_section(results.matrix)),
        ("fingerprints", "Fingerprints", fingerprints_section(results.runs)),
        ("coverage", "Coverage", coverage_section(results.runs)),
        ("drift", "Drift", drift_section(drift_rows, sum(bool(run.doc["drift"]) for run in results.runs))),
        ("cifar", "CIFAR-10", cifar_section(results.runs)),
        ("blobs", "Two blobs", blobs_section(results.runs)),
        ("cells", "Records", cell_details_section(results.matrix)),
        ("environment", "Environment", environment_section(results.runs)),
    ]
    sections = [(anchor, label, body) for anchor, label, body in sections if body is not None]
    nav = el("nav", [el("a", label, href=f"#{anchor}") for anchor, label, _ in sections])
    document = el("html",
                  el("head",
                     el("meta", charset="utf-8"),
                     el("meta", name="viewport", content="width=device-width, initial-scale=1"),
                     el("title", title),
                     el("link", rel="icon", href="data:,"),
                     el("style", Markup(CSS))),
                  el("body", _header(results, gate, title, generated), nav,
                     el("main", [body for _, _, body in sections])),
                  lang="en")
    return Markup("<!DOCTYPE html>\n") + document + Markup("\n")
