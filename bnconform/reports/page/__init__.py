"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network).

:func:`render_page` lays out the sections (``bnconform/reports/templates/page.html.j2``); each section
lives in its own module, which gathers what it shows and renders its own template. Templates
are Jinja2 with autoescape (:mod:`.jinja`): all text is escaped unless it is markup a template
or :mod:`bnconform.reports.svg` wrote.
"""

from __future__ import annotations

from collections import Counter

from ..gate import GateOutcome
from markupsafe import Markup

from ..model import Results
from ..schema import VERDICTS
from ..writer import now_iso
from .blobs_view import blobs_section
from .cifar_view import cifar_section
from .changes import changes_section
from .coverage_view import coverage_section
from .deviations_view import deviations_section
from .drift_view import compute_drift, drift_section
from .environment_view import environment_section
from .failures import failures_section
from .fingerprints import fingerprints_section
from .jinja import render
from .matrix import cell_details_section, matrix_section
from .style import CSS
from .tolerance import tolerance_section

__all__ = ["render_page"]


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
    counts: Counter = results.verdict_counts()
    return str(render("page.html.j2", title=title, generated=generated, gate=gate, runs=results.runs,
                      run_names=", ".join(f"{run.name}{'' if run.complete else ' (INCOMPLETE)'}"
                                          for run in results.runs),
                      totals=[(v, counts[v]) for v in VERDICTS if counts[v]], css=Markup(CSS),
                      sections=[section for section in sections if section[2] is not None]))
