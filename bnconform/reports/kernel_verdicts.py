"""Which verdicts differ between kernel configurations: the records of ``bnconform run --kernels``.

    python -m bnconform.reports.kernel_verdicts RESULTS_DIR [--known-deviations FILE]

reads every ``RESULTS_DIR/*/results.json`` (``FAMILY`` is the run under ``default``,
``FAMILY@CONFIG`` the run under a configuration), re-derives each record's verdict from the
known-deviations file as the gate does, and prints, per family, the kernel path each run measured,
how many of its tests each run had, and every test whose verdict differs between the runs (verdict
per run, with err/tol). A run whose configuration could not be taken here is listed with its reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import known
from .deviations import classify
from .model import load_runs

def _key(record: dict) -> str:
    """The test (its pytest node id: target, property, kind, mode, dtype, and which test file)."""
    return str(record["id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bnconform.reports.kernel_verdicts", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--known-deviations", type=Path, default=None,
                        help="the project's known deviations, applied to the shipped ones (bnconform.reports.known)")
    args = parser.parse_args(argv)
    entries = known.load(args.known_deviations).entries
    runs = load_runs(sorted(args.results.glob("*/results.json")))
    families: dict[str, list] = {}
    for run in runs:
        families.setdefault(Path(run.path).parent.name.split("@")[0], []).append(run)
    for family, group in sorted(families.items()):
        if family in ("cifar", "blobs"):
            continue
        print(f"{family}:")
        verdicts: dict[str, dict[tuple, tuple[str, object]]] = {}
        for run in group:
            label = Path(run.path).parent.name
            paths = ((run.doc["run"].get("kernels") or {}).get("engines") or {}).values()
            measured = ", ".join(f"{p.get('name')}" + ("" if p.get("honoured", True) else f" NOT RUN: {p.get('reason')}")
                                 for p in paths) or "no kernel path (engine declares none)"
            mine = {_key(r): (classify(r, entries).verdict, r.get("max_tol_ratio")) for r in run.records}
            tested = sum(v != "skip" for v, _ in mine.values())
            print(f"  {label:<32} kernels {measured}: {len(mine)} tests, {tested} not skipped")
            honoured = all(p.get("honoured", True) for p in paths)
            if honoured:
                verdicts[label] = mine
        labels = sorted(verdicts)
        keys = sorted({k for v in verdicts.values() for k in v})
        differing = [k for k in keys if len({verdicts[label].get(k, ("absent", None))[0] for label in labels}) > 1]
        print(f"  verdicts that differ between {', '.join(labels)}: {len(differing)} of {len(keys)}")
        for key in differing:
            cells = []
            for label in labels:
                verdict, ratio = verdicts[label].get(key, ("absent", None))
                cells.append(f"{label}={verdict}" + (f" (err/tol {ratio:.3g})" if isinstance(ratio, float) else ""))
            print(f"    {key}: {'; '.join(cells)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
