"""The gate's outcome as Markdown: the job summary of a CI run (``bnconform gate --format markdown``,
written to ``$GITHUB_STEP_SUMMARY`` by the repository's ``action.yml``).

The same decision and the same facts as :meth:`GateOutcome.summary`, laid out for a rendered page: the
verdict first, then the runs, the new failures with the command that replays the first, the errors by
target and the warnings. Text from the results (messages, reasons, ids) is escaped so that it cannot
break the table or inject markup.
"""

from __future__ import annotations

import re

from .gate import PASS, GateOutcome, _failure_line, _imports, _machines, _version, entry_tally
from .schema import VERDICTS

_SHOW = 20  # rows per list; the rest are counted
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def escape(text: object) -> str:
    """``text`` as literal Markdown on one line: backslash before every character Markdown (or a
    table) would read, newlines as spaces."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code(text: object) -> str:
    """``text`` as inline code (a backtick run longer than any inside it)."""
    text = " ".join(str(text).split())
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") else f"{fence}{text}{fence}"


def markdown(outcome: GateOutcome, deviations_source: str | None = None) -> str:
    """The summary of ``outcome`` as GitHub-flavoured Markdown."""
    results = outcome.results
    passed = outcome.code == PASS
    lines = [f"## bnconform gate: {'PASS' if passed else 'FAIL'} (exit {outcome.code})", ""]
    if outcome.reasons:
        lines += [f"- {escape(reason)}" for reason in outcome.reasons] + [""]
    counts = results.verdict_counts()
    lines.append("**Verdicts:** " + (" · ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v]) or "none"))
    if deviations_source:
        lines += ["", f"**Known deviations:** {escape(deviations_source)} ({entry_tally(results)})"]
    lines += ["", "| run | state | records | frameworks |", "|---|---|---:|---|"]
    for run in results.runs:
        imports = _imports(run)
        frameworks = ", ".join(sorted({f"{r.get('framework')} {_version(r, imports)}"
                                       for r in run.records if r.get("framework")})) or "no records"
        lines.append(f"| {escape(run.name)} | {'complete' if run.complete else '**INCOMPLETE**'} | "
                     f"{len(run.records)} | {escape(frameworks)} |")
    machines = _machines(results.runs)
    if machines:
        lines += [""] + [f"_{escape(m)}_" for m in machines]
    if outcome.failures:
        lines += ["", f"### New failures ({len(outcome.failures)})", ""]
        for run, record in outcome.failures[:_SHOW]:
            lines.append(f"- {code(_failure_line(run, record))}")
            lines.append(f"  - test: {code(record['id'])}")
            if record["verdict"] == "fail" and record.get("reason"):
                lines.append(f"  - {escape(record['reason'])}")
        if len(outcome.failures) > _SHOW:
            lines.append(f"- ... and {len(outcome.failures) - _SHOW} more (see the HTML report)")
        replay = next((r.get("replay") for _, r in outcome.failures if r.get("replay")), None)
        if replay:
            lines += ["", "Replay the first:", "", "```sh", replay, "```"]
    if outcome.errors:
        lines += ["", f"### Errors by target ({sum(g.count for _, g in outcome.errors)}: the tests could not run)", ""]
        lines += [f"- [{escape(run.name)}] {escape(group.describe())}" for run, group in outcome.errors[:_SHOW]]
    if outcome.mismatches:
        lines += ["", f"### Version mismatches ({len(outcome.mismatches)})", ""]
        lines += [f"- [{escape(run.name)}] {escape(m.describe())}" for run, m in outcome.mismatches[:_SHOW]]
    for title, failures in (("CIFAR-10 failures", outcome.cifar_failures), ("Two-blob failures", outcome.blobs_failures)):
        if failures:
            lines += ["", f"### {title} ({len(failures)})", ""]
            lines += [f"- [{escape(run.name)}] {escape(record.get('target'))} {escape(record.get('arch') or record.get('model'))}"
                      for run, record in failures[:_SHOW]]
    if outcome.warnings:
        lines += ["", f"### Warnings ({len(outcome.warnings)})", ""]
        lines += [f"- {escape(w)}" for w in outcome.warnings[:_SHOW]]
        if len(outcome.warnings) > _SHOW:
            lines.append(f"- ... and {len(outcome.warnings) - _SHOW} more")
    return "\n".join(lines) + "\n"
