"""The CI gate: may this framework upgrade go in?

:func:`evaluate` looks at one or several runs (after verdicts were re-derived from the
known-deviations file, see :mod:`bnconform.reports.model`) and decides:

exit 0
    every record passed, was skipped, or failed as a listed known deviation.
exit 1
    anything new went wrong:

    - a record with verdict ``fail`` (a property broke) or ``error`` (the test raised; a
      framework that is installed but fails to import gives an ``error`` for every test of its
      targets, and the summary names the target and the exception);
    - a run none of whose declared targets (``run.targets``, else the targets its records name)
      has a record other than ``skip``: in an upgrade matrix, an environment whose framework
      was not there, which the other environments must not carry through the gate;
    - a target whose imported module's ``__version__`` differs from its distribution's
      metadata: the run tested another release than the one it names (see :mod:`bnconform.reports.tested`);
    - a CIFAR-10 training record with verdict ``fail``;
    - a two-blob training record with verdict ``fail`` (a check failed, or a planted bug went
      uncaught: see :mod:`bnconform.blobs.verdict`);
    - a file that could not be collected (its tests never ran);
    - a run with ``run.complete == false``: the process died or was stopped before its last
      test (a segfault in a framework is exactly what an upgrade can bring), so records are
      missing and "nothing failed" would be a guess;
    - no record other than ``skip`` and no CIFAR or two-blob record at all: a gate that passes on
      nothing tested would let any upgrade through (e.g. one whose import broke).

    A run under a kernel configuration this machine cannot take (``run.kernels``: the measured path
    is not the one asked for, e.g. ``aten-avx512`` on a CPU without AVX-512) is a warning with the
    measured reason, not "nothing tested": nothing ran on that path here.
    A declared target left untested in a run that tested others (say ``tf_keras`` not
    installed beside ``keras-tensorflow``) is a warning naming the target and the skip reason.
    A record is a known deviation only when every failing example agreed with a listed
    entry's model (see :mod:`bnconform.reports.deviations`); an example no model explains is a new
    failure even on a test that has an entry. Stale entries (no tested version in range) and
    unused entries (no test matches) are printed as warnings and do not fail the gate; they
    ask a person to edit ``known_deviations.toml``; ``--strict`` turns them into failures for
    projects that want the file to stay exact. (``fixed-deviation`` records, which only
    older files and pytest's own xfail marks produce, warn too.)
exit 2
    bad input: an unknown option, a missing, unreadable, truncated or non-schema results
    file, or a bad known-deviations file (decided by the command line, before this module).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Results, Run
from .schema import VERDICTS, device_label, op_label
from .tested import (ErrorGroup, Mismatch, declared_targets, error_groups, untested_targets, version_label,
                     version_mismatches)

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
    errors: list[tuple[Run, ErrorGroup]] = field(default_factory=list)
    mismatches: list[tuple[Run, Mismatch]] = field(default_factory=list)
    results: Results | None = None

    def summary(self, deviations_source: str | None = None) -> str:
        """A one-screen text summary."""
        results = self.results
        lines = [f"bnconform gate: {'PASS' if self.code == PASS else 'FAIL'} (exit {self.code})"
                 + (f" - {'; '.join(self.reasons)}" if self.reasons else "")]
        lines.append("runs:")
        for run in results.runs:
            state = "complete" if run.complete else "INCOMPLETE"
            imports = _imports(run)
            frameworks = ", ".join(sorted({f"{r.get('framework')} {_version(r, imports)}"
                                           for r in run.records if r.get("framework")})) or "no records"
            cifar, blobs = run.doc["cifar"], run.doc["blobs"]
            trained = (f", {len(cifar)} CIFAR-10 runs" if cifar else "") + (
                f", {len(blobs)} two-blob runs" if blobs else "")
            if not run.records and (cifar or blobs):
                frameworks = ", ".join(sorted({f"{r.get('framework')} {r.get('version') or '?'}"
                                               for r in cifar + blobs}))
            lines.append(f"  {run.name:<16} {state:<10} {len(run.records):>5} records{trained}  {frameworks}  [{run.path}]")
        lines.extend(_machines(results.runs))
        counts = results.verdict_counts()
        lines.append("verdicts: " + (" · ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v]) or "none"))
        if deviations_source:
            lines.append(f"known deviations: {deviations_source} ({entry_tally(results)})")
        if self.errors:
            lines.append(f"ERRORS BY TARGET ({sum(g.count for _, g in self.errors)}; the tests could not run):")
            lines.extend(f"  [{run.name}] {group.describe()}" for run, group in self.errors[:_SHOW])
        if self.mismatches:
            lines.append(f"VERSION MISMATCHES ({len(self.mismatches)}):")
            lines.extend(f"  [{run.name}] {m.describe()}" for run, m in self.mismatches[:_SHOW])
        if self.failures:
            lines.append(f"NEW FAILURES ({len(self.failures)}):")
            for run, record in self.failures[:_SHOW]:
                lines.append("  " + _failure_line(run, record))
                lines.append(f"      {record['id']}")
                if record["verdict"] == "fail" and record.get("reason"):
                    lines.append(f"      {record['reason']}")
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


def entry_tally(results: Results) -> str:
    """``29 entries: 2 active, 27 not-tested``: the known-deviation entries by status."""
    tally: dict[str, int] = {}
    for status in results.statuses:
        tally[status.status] = tally.get(status.status, 0) + 1
    detail = ", ".join(f"{n} {s}" for s, n in sorted(tally.items()))
    return f"{len(results.statuses)} entries{': ' + detail if detail else ''}"


def _machines(runs) -> list[str]:
    """One line per machine the runs ran on: the CPU and the flags that decide its kernels (AVX2,
    AVX-512 F/BF16/FP16, AMX, NEON/SVE), beside the kernel paths its runs measured."""
    machines: dict[tuple, set] = {}
    for run in runs:
        env = run.doc.get("environment") or {}
        if not env.get("cpu_flags") and not env.get("cpu"):
            continue
        key = (env.get("cpu") or "unknown CPU", " ".join(env.get("cpu_flags") or []) or "flags not recorded")
        paths = machines.setdefault(key, set())
        paths.update(str(r["kernels"]) for r in run.records if r.get("kernels"))
    return [f"machine: {cpu}; kernel flags: {flags}" + (f"; kernel paths run: {', '.join(sorted(paths))}" if paths else "")
            for (cpu, flags), paths in machines.items()]


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _imports(run: Run) -> dict[Any, tuple[str | None, bool]]:
    """Per target: the version it imported (None if none), and whether the run recorded imports."""
    found: dict[Any, tuple[str | None, bool]] = {}
    for r in run.records:
        version, known = found.get(r.get("target"), (None, False))
        found[r.get("target")] = (version or r.get("imported_version"), known or "imported_version" in r)
    return found


def _version(record: dict[str, Any], imports: dict[Any, tuple[str | None, bool]]) -> str:
    """The record's version, with ``(imported X)`` or ``(not imported)`` where that differs."""
    version, known = imports.get(record.get("target"), (None, False))
    return version_label(record.get("version") or "?", version, known)


def _unit(record: dict[str, Any]) -> str:
    """The gate's unit: a framework version on a device and a CPU kernel path,
    ``torch 2.11.0 on cuda (cuda:0 NVIDIA H200)``, ``keras 3.15.1 [tensorflow] kernels onednn-off``
    (``torch 2.13.0`` alone on the cpu, every record's device before devices were recorded);
    a failure on the GPU or on one kernel path alone is that unit's failure, never averaged with
    the others' passes."""
    who = f"{record.get('framework')} {record.get('version') or '?'}"
    if record.get("backend"):
        who += f" [{record['backend']}]"
    if record.get("kernels"):
        who += f" kernels {record['kernels']}"
    device = device_label(record)
    return who if device == "cpu" else f"{who} on {device}"


def _failure_line(run: Run, record: dict[str, Any]) -> str:
    who = _unit(record)
    where = f"{op_label(record)}/{record.get('mode')} {record.get('dtype')}"
    numbers = (f"ulp {_fmt(record.get('max_ulp_error'))}, err/tol {_fmt(record.get('max_tol_ratio'))}, "
               f"stat/allowed {_fmt(record.get('max_stat_ratio'))}")
    if record["verdict"] == "error":  # no numbers: the test raised (the message is under ERRORS BY TARGET)
        numbers = "the test raised: see ERRORS BY TARGET"
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
    for run in results.runs:
        outcome.errors.extend((run, group) for group in error_groups(run.records))
        outcome.mismatches.extend((run, m) for m in version_mismatches(run.records))
        _declared(run, outcome)
    if outcome.failures:
        errors = [f"{group.target} [{run.name}]" for run, group in outcome.errors]
        outcome.reasons.append(f"{len(outcome.failures)} new failure(s)"
                               + (f", errors in {', '.join(errors[:4])}" + (" ..." if len(errors) > 4 else "")
                                  if errors else ""))
    if outcome.mismatches:
        outcome.reasons.append("imported version differs from the installed metadata: "
                               + ", ".join(f"{m.target} [{run.name}] ({m.package} {m.imported} imported, "
                                           f"metadata {m.metadata})" for run, m in outcome.mismatches[:3]))
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


def not_honoured(run: dict[str, Any]) -> list[str]:
    """Why each kernel configuration the run asked for did not take effect (``run.kernels``: the
    engines whose measured path is not the one asked for); [] when every one did."""
    engines = ((run.get("kernels") or {}).get("engines") or {}).values()
    return [str(path.get("reason") or f"{path.get('asked')} not honoured") for path in engines
            if not path.get("honoured", True)]


def _declared(run: Run, outcome: GateOutcome) -> None:
    """A run none of whose declared targets was tested fails (a reason naming it, the targets and
    why they were skipped); a declared target left untested beside tested ones is a warning."""
    if not run.records and not run.doc["run"].get("targets"):
        return  # a CIFAR-10 run, or a run without conformance records and no declared targets
    targets, explicit = declared_targets(run.doc["run"], run.records)
    untested = untested_targets(targets, run.records)
    not_run = not_honoured(run.doc["run"])
    if not_run:  # a kernel configuration this machine cannot take: said, not failed (nothing ran on it)
        outcome.warnings.extend(f"[{run.name}] kernel configuration not run on this machine: {reason}"
                                for reason in not_run)
    if untested and len(untested) == len(targets) and not_run:
        return
    if untested and len(untested) == len(targets):
        what = "its declared targets" if explicit else "its targets"
        outcome.reasons.append(f"run {run.name}: none of {what} was tested ("
                               + "; ".join(u.describe() for u in untested) + ")")
    elif explicit:
        outcome.warnings.extend(f"[{run.name}] declared target not tested: {u.describe()}" for u in untested)
