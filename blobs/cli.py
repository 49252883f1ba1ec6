"""``python -m blobs`` (and ``bnconform blobs``): train the two-blob networks, gate, report.

    python -m blobs run                                  # the CI matrix on every target
    python -m blobs run --targets torch --seeds 0 1 2 3 4 --broken-models deep shallow
    python -m blobs report results/blobs.json            # the README's tables
    python -m blobs bayes                                # p*, the band, the Bayes rule on the draw

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

from cifar.backends import TARGETS

from . import matrix

SCHEMA = "bnconform-blobs/1"
DEFAULT_OUT = Path("results") / "blobs.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m blobs", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train the matrix, check every run, write the results file")
    p.add_argument("--targets", nargs="+", choices=sorted(TARGETS), default=None,
                   help="default: every target")
    p.add_argument("--seeds", nargs="+", type=int, default=None,
                   help="train these seeds of --models x --bn (default: the CI matrix, blobs.matrix)")
    p.add_argument("--models", nargs="+", choices=matrix.MODELS, default=list(matrix.MODELS))
    p.add_argument("--bn", choices=["on", "off", "both"], default="both")
    p.add_argument("--broken-models", nargs="*", choices=matrix.MODELS, default=["shallow"],
                   help="with --seeds: networks that also train the planted bug (inverted momentum)")
    p.add_argument("--broken-seeds", nargs="*", type=int, default=[0],
                   help="with --seeds: the seeds of the planted bug")
    p.add_argument("--no-twin", action="store_true",
                   help="with --seeds: no twin runs (BN runs then have no moving-statistics check)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes at once (default: cores)")
    p.add_argument("--threads", type=int, default=None, help="framework threads per run (default 1)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per worker process")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"results file (default {DEFAULT_OUT})")
    p = sub.add_parser("report", help="text tables of results files")
    p.add_argument("results", nargs="+")
    sub.add_parser("bayes", help="the Bayes accuracy, the band and the drawn data")
    p = sub.add_parser("worker", help=argparse.SUPPRESS)
    p.add_argument("--job", required=True)
    p.add_argument("--out", required=True)
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
        doc = json.loads(Path(path).read_text())
        records += doc.get("blobs", []) if isinstance(doc, dict) else doc
    return records


def execute(batches, *, parallel=None, threads=None, timeout=900.0) -> tuple[list, list]:
    """Run the batches (:func:`blobs.matrix.batches`), judge the loss-gap pairs; records, errors."""
    from .checks import loss_gaps
    from .runner import run_many

    parallel = parallel or max(1, (os.cpu_count() or 1) // (threads or 1))
    results, errors = run_many(batches, parallel=parallel, threads=threads, timeout=timeout)
    records = [r for batch in results for r in batch]
    loss_gaps(records)
    return records, errors


def cmd_run(args, command) -> int:
    from .report import summary_lines

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
    write_results(args.out, records, command, seconds)
    if errors:
        return 2
    return 1 if any(r["verdict"] != "pass" for r in records) else 0


def cmd_bayes() -> int:
    from .data import generate
    from .train import bayes_block

    data = generate()
    print(json.dumps({"data": data.describe(), "bayes": bayes_block(data)}, indent=1))
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = "python -m blobs " + " ".join(shlex.quote(a) for a in argv)
    if args.command == "worker":
        from .runner import work

        work(args.job, args.out)
        return 0
    if args.command == "report":
        from .report import render_text

        print(render_text(load_records(args.results)))
        return 0
    if args.command == "bayes":
        return cmd_bayes()
    return cmd_run(args, command)
