"""The CI gate: may this framework upgrade go in?

:func:`evaluate` looks at one or several runs (after verdicts were re-derived from the
known-deviations file, see :mod:`reports.model`) and decides:

exit 0
    every record passed, was skipped, or failed as a listed known deviation.
exit 1
    anything new went wrong:

    - a record with verdict ``fail`` (a property broke) or ``error`` (the test raised);
    - a CIFAR-10 training record with verdict ``fail``;
    - a two-blob training record with verdict ``fail`` (a check failed, or a planted bug went
      uncaught: see :mod:`blobs.checks`);
    - a file that could not be collected (its tests never ran);
    - a run with ``run.complete == false``: the process died or was stopped before its last
      test (a segfault in a framework is exactly what an upgrade can bring), so records are
      missing and "nothing failed" would be a guess;
    - no record other than ``skip`` and no CIFAR or two-blob record at all: a gate that passes on
      nothing tested would let any upgrade through (e.g. one whose import broke).

    Fixed deviations (a listed deviation that passes), stale entries (no tested version
    in range) and unused entries (no test matches) are printed as warnings and do not fail
    the gate: an upgrade that fixes a bug is not a bad upgrade, and blocking it would punish
    the fix. They ask a person to edit ``known_deviations.toml``; ``--strict`` turns them
    into failures for projects that want the file to stay exact.
exit 2
    bad input: an unknown option, a missing, unreadable, truncated or non-schema results
    file, or a bad known-deviations file (decided by the command line, before this module).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Results, Run
from .schema import VERDICTS

__all__ = ["GateOutcome", "evaluate", "PASS", "FAIL"]

PASS = 0
FAIL = 1
_SHOW = 8  # failures listed by name; the rest are counted


@dataclass
class GateOutcome:
    """The decision and everything needed to explain it."""

    code: int
    reasons: list[str] = field(default_factory=list)
    failures: list[tuple[Run, dict[str, Any]]] = field(default_factory=list)
    cifar_failures: list[tuple[Run, dict[str, Any]]] = field(default_factory=list)
    blobs_failures: list[tuple[Run, dict[str, Any]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    results: Results | None = None

    def summary(self, deviations_source: str | None = None) -> str:
        """A one-screen text summary."""
        results = self.results
        lines = [f"bnconform gate: {'PASS' if self.code == PASS else 'FAIL'} (exit {self.code})"
                 + (f" - {'; '.join(self.reasons)}" if self.reasons else "")]
        lines.append("runs:")
        for run in results.runs:
            state = "complete" if run.complete else "INCOMPLETE"
            frameworks = ", ".join(sorted({f"{r.get('framework')} {r.get('version') or '?'}"
                                           for r in run.records if r.get("framework")})) or "no records"
            cifar, blobs = run.doc["cifar"], run.doc["blobs"]
            trained = (f", {len(cifar)} CIFAR-10 runs" if cifar else "") + (
                f", {len(blobs)} two-blob runs" if blobs else "")
            if not run.records and (cifar or blobs):
                frameworks = ", ".join(sorted({f"{r.get('framework')} {r.get('version') or '?'}"
                                               for r in cifar + blobs}))
            lines.append(f"  {run.name:<16} {state:<10} {len(run.records):>5} records{trained}  {frameworks}  [{run.path}]")
        counts = results.verdict_counts()
        lines.append("verdicts: " + (" · ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v]) or "none"))
        if deviations_source:
            tally: dict[str, int] = {}
            for status in results.statuses:
                tally[status.status] = tally.get(status.status, 0) + 1
            detail = ", ".join(f"{n} {s}" for s, n in sorted(tally.items()))
            lines.append(f"known deviations: {deviations_source} "
                         f"({len(results.statuses)} entries{': ' + detail if detail else ''})")
        if self.failures:
            lines.append(f"NEW FAILURES ({len(self.failures)}):")
            for run, record in self.failures[:_SHOW]:
                lines.append("  " + _failure_line(run, record))
                lines.append(f"      {record['id']}")
            if len(self.failures) > _SHOW:
                lines.append(f"  ... and {len(self.failures) - _SHOW} more (see the HTML report)")
            replay = next((r.get("replay") for _, r in self.failures if r.get("replay")), None)
            if replay:
                lines.append(f"replay the first: {replay}")
        if self.cifar_failures:
            lines.append(f"CIFAR-10 FAILURES ({len(self.cifar_failures)}):")
            for run, record in self.cifar_failures[:_SHOW]:
                lines.append(f"  [{run.name}] {record.get('target')} arch {record.get('arch')} "
                             f"bn={record.get('bn')} test accuracy {record.get('test_accuracy')} "
                             f"< threshold {record.get('threshold')}")
        if self.blobs_failures:
            lines.append(f"TWO-BLOB FAILURES ({len(self.blobs_failures)}):")
            for run, record in self.blobs_failures[:_SHOW]:
                lines.append(f"  [{run.name}] {_blobs_line(record)}")
        if self.warnings:
            lines.append(f"WARNINGS ({len(self.warnings)}):")
            lines.extend(f"  {w}" for w in self.warnings[:_SHOW])
            if len(self.warnings) > _SHOW:
                lines.append(f"  ... and {len(self.warnings) - _SHOW} more")
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _failure_line(run: Run, record: dict[str, Any]) -> str:
    who = f"{record.get('framework')} {record.get('version') or '?'}"
    if record.get("backend"):
        who += f" [{record['backend']}]"
    where = f"{record.get('op')}/{record.get('mode')} {record.get('dtype')}"
    numbers = f"ulp {_fmt(record.get('max_ulp_error'))}, err/tol {_fmt(record.get('max_tol_ratio'))}"
    return f"[{run.name}] {record['verdict']:<5} {who} {where} {record.get('property')}  ({numbers})"


def _blobs_line(record: dict[str, Any]) -> str:
    checks = record.get("checks") if isinstance(record.get("checks"), dict) else {}
    failed = [f"{name} {_fmt(c.get('value'))}" for name, c in checks.items()
              if isinstance(c, dict) and c.get("gated") and not c.get("ok")]
    what = (f"{record.get('target')} {record.get('model')} "
            f"{'BN' if record.get('bn') else 'no-BN'} seed {record.get('seed')}")
    if record.get("broken_bn"):
        return f"{what}: planted bug (inverted BN momentum) NOT caught by any check"
    return f"{what}: failed {', '.join(failed) or '?'}"


def evaluate(results: Results, *, strict: bool = False) -> GateOutcome:
    """Decide the gate for ``results`` (see the module docstring)."""
    outcome = GateOutcome(code=PASS, results=results)
    for run, record in results.records():
        if record["verdict"] in ("fail", "error"):
            outcome.failures.append((run, record))
        elif record["verdict"] == "fixed-deviation":
            entry = record.get("deviation") or {}
            outcome.warnings.append(f"fixed deviation [{run.name}] {record['id']}: passes although listed "
                                    f"(entry #{entry.get('index', '?')}); remove or narrow the entry")
    for run in results.runs:
        for record in run.doc["cifar"]:
            if record.get("verdict") == "fail":
                outcome.cifar_failures.append((run, record))
        for record in run.doc["blobs"]:
            if record.get("verdict") == "fail":
                outcome.blobs_failures.append((run, record))
    for status in results.statuses:
        if status.status == "stale":
            outcome.warnings.append(f"stale known deviation {status.deviation.label}: no tested version "
                                    f"in range (tested {', '.join(status.tested_versions)})")
        elif status.status == "unused":
            outcome.warnings.append(f"unused known deviation {status.deviation.label}: matches no test "
                                    "of a tested version (renamed property? typo?)")
    if results.missing:
        outcome.reasons.append(f"no results from {', '.join(results.missing)}: the environment failed "
                               "before the suite ran (an install error, say); see its log")
    if outcome.failures:
        outcome.reasons.append(f"{len(outcome.failures)} new failure(s)")
    if outcome.cifar_failures:
        outcome.reasons.append(f"{len(outcome.cifar_failures)} CIFAR-10 failure(s)")
    if outcome.blobs_failures:
        outcome.reasons.append(f"{len(outcome.blobs_failures)} two-blob failure(s)")
    collection = [(run, e) for run in results.runs for e in run.doc["run"].get("collection_errors", [])]
    if collection:
        outcome.reasons.append(f"{len(collection)} collection error(s): "
                               + ", ".join(f"[{run.name}] {e.get('id')}" for run, e in collection[:3]))
    incomplete = [run.name for run in results.runs if not run.complete]
    if incomplete:
        stopped = [f"{run.name}: {run.doc['run'].get('stopped')}" for run in results.runs
                   if not run.complete and run.doc["run"].get("stopped")]
        outcome.reasons.append(f"run did not complete: {', '.join(incomplete)}"
                               + (f" ({'; '.join(stopped)})" if stopped else ""))
    tested = any(r["verdict"] != "skip" for _, r in results.records()) or any(
        run.doc["cifar"] or run.doc["blobs"] for run in results.runs)
    if not tested:
        outcome.reasons.append("nothing was tested (no record other than skip)")
    if strict and outcome.warnings:
        outcome.reasons.append(f"--strict: {len(outcome.warnings)} warning(s)")
    if outcome.reasons:
        outcome.code = FAIL
    return outcome
