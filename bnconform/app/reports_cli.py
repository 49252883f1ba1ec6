"""Command lines: ``bnconform report`` and ``bnconform gate`` (the README screenshot is test tooling:
``python -m tests.reports.screenshot``).

Each ``main_*`` takes ``argv`` (without the program and subcommand names) and returns the
exit code; nothing here calls ``sys.exit``. Usage and input errors return 2 with a message
on stderr that names the offending file or option.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from bnconform.app.commandline import USAGE, dispatch

from bnconform.reports.atomic import write_atomic
from bnconform.reports import known
from bnconform.reports.deviations import Deviation, DeviationsError
from bnconform.reports.gate import evaluate
from bnconform.reports.model import build, load_runs
from bnconform.reports.schema import ResultsError

__all__ = ["main", "main_report", "main_gate", "USAGE_ERROR"]

USAGE_ERROR = USAGE
def _add_deviation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--known-deviations", "--known", dest="known", metavar="FILE",
                       help="the project's known deviations, applied to the shipped ones: entries added and "
                            "disable = [ids] (default: ./bnconform.toml, else ./pyproject.toml's [tool.bnconform], "
                            "if any)")
    group.add_argument("--no-known-deviations", dest="no_known", action="store_true",
                       help="keep the verdicts the runs recorded; do not re-derive them")
    parser.add_argument("--no-shipped-deviations", dest="no_shipped", action="store_true",
                        help="leave out the known deviations that ship with bnconform (only the project's apply)")


def _deviations(args) -> tuple[list[Deviation] | None, str | None]:
    """The deviations in force (the shipped ones with the project's applied: ``bnconform.reports.known``)
    and where they came from (raises DeviationsError)."""
    if args.no_known:
        return None, None
    loaded = known.load(args.known, shipped=None if args.no_shipped else known.SHIPPED)
    return loaded.entries, loaded.describe()


def _error(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def _expand(paths: Sequence[str]) -> list[Path]:
    """Results files: a file as given, a directory's own results.json, else every results.json
    below it (``results/`` after a tox matrix: one sub-directory per environment)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and not (path / "results.json").is_file():
            found = sorted(path.rglob("results.json"))
            if not found:
                raise ResultsError(path, "no results.json in this directory or below it")
            files.extend(found)
        else:
            files.append(path)
    return files


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    """What the report and the gate both read: the results files, the runs expected among them and
    the known deviations in force."""
    parser.add_argument("results", nargs="+", metavar="RESULTS",
                        help="results.json files (or directories holding one), one per run")
    _add_expect_option(parser)
    _add_deviation_options(parser)


def _add_expect_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expect", metavar="NAMES", default="",
                        help="comma-separated run names that must be present (e.g. every tox environment); "
                             "a missing one is reported and fails the gate")


def _load(prog: str, args):
    """(results, deviations source) or an exit code."""
    try:
        runs = load_runs(_expand(args.results))
        deviations, source = _deviations(args)
    except (ResultsError, DeviationsError) as exc:
        return _error(prog, str(exc))
    results = build(runs, deviations)
    names = {run.doc["run"]["name"] for run in runs}
    results.missing = [n for n in (x.strip() for x in args.expect.split(",")) if n and n not in names]
    return results, source


def _add_report(parser: argparse.ArgumentParser) -> None:
    _add_inputs(parser)
    parser.add_argument("-o", "--output", metavar="DIR", default="report",
                        help="directory for index.html (default: report)")
    parser.add_argument("--title", default="bnconform report", help="page title")
    parser.set_defaults(func=cmd_report, prog=parser.prog)


def cmd_report(args) -> int:
    """Render ``index.html`` from one or several results files."""
    prog = args.prog
    loaded = _load(prog, args)
    if isinstance(loaded, int):
        return loaded
    results, source = loaded
    from bnconform.reports.page import render_page

    outcome = evaluate(results)
    page = render_page(results, outcome, deviations_source=source, title=args.title)
    output = Path(args.output)
    try:
        output.mkdir(parents=True, exist_ok=True)
        write_atomic(output / "index.html", page)
    except OSError as exc:
        return _error(prog, f"{output}: cannot write the report: {exc.strerror or exc}")
    counts = results.verdict_counts()
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no records"
    print(f"{output / 'index.html'}: {len(results.runs)} run(s), {summary}")
    return 0


GATE_EPILOG = ("exit status: 0 conforms or deviates as known; 1 new failure, CIFAR failure, incomplete run, "
               "collection error or nothing tested; 2 usage or input error")


def _add_gate(parser: argparse.ArgumentParser) -> None:
    _add_inputs(parser)
    parser.add_argument("--strict", action="store_true",
                        help="also fail on fixed, stale and unused known-deviation entries")
    parser.add_argument("--format", choices=("text", "markdown"), default="text",
                        help="text (default), or markdown: a CI job summary (append it to $GITHUB_STEP_SUMMARY)")
    parser.set_defaults(func=cmd_gate, prog=parser.prog)


def cmd_gate(args) -> int:
    """Exit 0 when everything conforms or deviates as known, 1 on anything new, 2 on bad input."""
    prog = args.prog
    loaded = _load(prog, args)
    if isinstance(loaded, int):
        return loaded
    results, source = loaded
    outcome = evaluate(results, strict=args.strict)
    source = source or "none (recorded verdicts)"
    if args.format == "markdown":
        from bnconform.reports.gate_markdown import markdown

        sys.stdout.write(markdown(outcome, deviations_source=source))
    else:
        print(outcome.summary(deviations_source=source))
    return outcome.code


_COMMANDS = {
    "report": (_add_report, "merge results into one HTML report",
               "Render the HTML report of one or several runs."),
    "gate": (_add_gate, "exit 0/1/2 on results and known deviations",
             "Decide whether the tested framework versions may go in."),
}


def build_parser(prog: str = "python -m bnconform.reports") -> argparse.ArgumentParser:
    """``PROG report|gate ...``: one subcommand each, bound with ``set_defaults(func=...)``."""
    parser = argparse.ArgumentParser(prog=prog, description="Render and gate bnconform results.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add, help_text, description) in _COMMANDS.items():
        add(sub.add_parser(name, help=help_text, description=description,
                           epilog=GATE_EPILOG if name == "gate" else None))
    return parser


def _dispatch(command: str, argv: Sequence[str] | None, prog: str) -> int:
    """``command`` parsed by :func:`build_parser` under ``prog`` (e.g. ``bnconform report``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parent = prog.removesuffix(" " + command) if prog.endswith(" " + command) else prog
    return dispatch(build_parser(parent), [command, *argv])


def main_report(argv: Sequence[str] | None = None, prog: str = "bnconform report") -> int:
    """Render ``index.html`` from one or several results files (see :func:`cmd_report`)."""
    return _dispatch("report", argv, prog)


def main_gate(argv: Sequence[str] | None = None, prog: str = "bnconform gate") -> int:
    """The gate's exit code on results files (see :func:`cmd_gate`)."""
    return _dispatch("gate", argv, prog)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bnconform.reports report|gate ...``"""
    return dispatch(build_parser("python -m bnconform.reports"), argv)
