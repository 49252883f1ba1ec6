"""``python -m bnconform.blobs`` (and ``bnconform blobs``): train the two-blob networks, gate, report.

    python -m bnconform.blobs run                                  # the CI matrix on every target
    python -m bnconform.blobs run --targets torch --seeds 0 1 2 3 4 --broken-models deep shallow
    python -m bnconform.blobs report results/blobs.json            # the tables of docs/blobs.md
    python -m bnconform.blobs bayes                                # p*, the band, the Bayes rule on the draw

Exit codes: 0 every run passed (and every planted bug was caught), 1 a run failed, 2 a run could
not be done.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from bnconform.app.runner import add_worker_parser
from bnconform.app.commandline import dispatch, positive_int, print_rendered
from bnconform.training.targets import TARGETS

from bnconform.blobs import matrix

SCHEMA = "bnconform-blobs/1"
DEFAULT_OUT = Path("results") / "blobs.json"


def build_parser(prog: str = "python -m bnconform.blobs") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("run", help="train the matrix, check every run, write the results file")
    p.add_argument("--targets", nargs="+", choices=sorted(TARGETS), default=None,
                   help="default: every target")
    p.add_argument("--seeds", nargs="+", type=int, default=None,
                   help="train these seeds of --models x --bn (default: the CI matrix, bnconform.blobs.matrix)")
    p.add_argument("--models", nargs="+", choices=matrix.MODELS, default=list(matrix.MODELS))
    p.add_argument("--bn", choices=["on", "off", "both"], default="both")
    p.add_argument("--broken-models", nargs="*", choices=matrix.MODELS, default=["shallow"],
                   help="with --seeds: networks that also train the planted bug (inverted momentum)")
    p.add_argument("--broken-seeds", nargs="*", type=int, default=[0],
                   help="with --seeds: the seeds of the planted bug")
    p.add_argument("--no-twin", action="store_true",
                   help="with --seeds: no twin runs (BN runs then have no moving-statistics check)")
    p.add_argument("--jobs", type=positive_int, default=None, help="worker processes at once (default: cores)")
    p.add_argument("--threads", type=positive_int, default=None, help="framework threads per run (default 1)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per worker process")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"results file (default {DEFAULT_OUT})")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("report", help="text tables of results files")
    p.add_argument("results", nargs="+")
    p.set_defaults(func=cmd_report)
    sub.add_parser("bayes", help="the Bayes accuracy, the band and the drawn data").set_defaults(func=cmd_bayes)
    add_worker_parser(sub, cmd_worker)
    return parser


def write_results(path, records, command, seconds=None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"schema": SCHEMA, "command": command, "wall_seconds": seconds, "blobs": records}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)


def load_records(paths) -> list:
    records = []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:  # a usage error, named (exit 2)
            raise ValueError(f"{path}: not a readable two-blob results file: {exc}") from exc
        records += doc.get("blobs", []) if isinstance(doc, dict) else doc
    return records


def execute(batches, *, parallel=None, threads=None, timeout=900.0) -> tuple[list, list]:
    """Run the batches (:func:`bnconform.blobs.matrix.batches`), judge the loss-gap pairs; records, errors."""
    from bnconform.blobs.verdict import loss_gaps
    from bnconform.app.runner import run_many

    parallel = parallel or max(1, (os.cpu_count() or 1) // (threads or 1))
    results, errors = run_many(batches, parallel=parallel, threads=threads, timeout=timeout)
    records = [r for batch in results for r in batch]
    loss_gaps(records)
    return records, errors


def cmd_run(args) -> int:
    from bnconform.blobs.report import summary_lines

    if args.seeds is None:
        chosen = matrix.CI_RUNS
    else:
        bns = {"on": (True,), "off": (False,), "both": (True, False)}[args.bn]
        chosen = matrix.runs(tuple(args.models), bns, tuple(args.seeds), tuple(args.broken_models),
                             tuple(args.broken_seeds), twin=not args.no_twin)
    batches = matrix.batches(args.targets, chosen)
    t0 = time.perf_counter()
    records, errors = execute(batches, parallel=args.jobs, threads=args.threads, timeout=args.timeout)
    seconds = time.perf_counter() - t0
    for line in summary_lines(records):
        print(line)
    for error in errors:
        print(f"ERROR {error}", file=sys.stderr)
    print(f"{len(records)} runs in {seconds:.0f} s")
    write_results(args.out, records, args.command_line, seconds)
    if errors:
        return 2
    return 1 if any(r["verdict"] != "pass" for r in records) else 0


def cmd_bayes(args) -> int:
    from bnconform.blobs.data import generate
    from bnconform.blobs.train import bayes_block

    data = generate()
    print(json.dumps({"data": data.describe(), "bayes": bayes_block(data)}, indent=1))
    return 0


def cmd_report(args) -> int:
    from bnconform.blobs.report import render_text

    return print_rendered(args.prog, load_records, render_text, args.results)


def cmd_worker(args) -> int:
    from bnconform.blobs.worker import work

    work(args.job, args.out)
    return 0


def main(argv=None, prog: str = "python -m bnconform.blobs") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    # the command line as recorded in the results file (how to make it again)
    parser.set_defaults(command_line="python -m bnconform.blobs " + " ".join(shlex.quote(a) for a in argv), prog=prog)
    return dispatch(parser, argv)
