"""``python -m bnconform.cifar`` (and ``bnconform cifar``): train, gate, record baselines, report.

    python -m bnconform.cifar run --profile quick                      # train the profile's matrix and gate it
    python -m bnconform.cifar run --profile gpu --device cuda          # the lectures in full, 3 seeds, on a GPU
    python -m bnconform.cifar run --targets torch --archs B --seeds 0 --broken-bn
    python -m bnconform.cifar baseline --profile quick --seeds 0 1 2 3 4
    python -m bnconform.cifar gate results/cifar-quick.json            # re-judge recorded runs
    python -m bnconform.cifar report results/cifar-quick.json          # curves, BN vs no-BN, images/s
    python -m bnconform.cifar locate                                    # where the data is, its sha256
    python -m bnconform.cifar targets

Exit codes: 0 all passed (``no-baseline`` counts as passed unless ``--require-baseline``),
1 a run failed the gate, 2 a run could not be done (error, missing data) or a usage error.

``--device`` (else ``$BNCONFORM_DEVICE``, else cpu): where the trainers run, as in the conformance
suite (:mod:`bnconform.cifar.device`). On an accelerator each target is first probed in its own worker: a
target named with ``--targets`` whose framework does not see the device is a usage error (exit 2,
naming the device and the framework's reason); without ``--targets``, such a target (or one whose
framework is not installed) is skipped with its reason, and none left is a usage error. A profile
meant for an accelerator (``gpu``) is refused with ``--device cpu`` (exit 2).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import sys
import time
from pathlib import Path

from bnconform.app.runner import add_worker_parser
from bnconform.app.commandline import dispatch, positive_int, print_rendered, usage_error

from bnconform.training.targets import DEFAULT_THREADS, TARGETS

from bnconform.cifar import profiles

DEFAULT_OUT = Path("results")


def _matrix_args(p: argparse.ArgumentParser, seeds_default=(0,)) -> None:
    p.add_argument("--profile", default="quick", choices=sorted(profiles.PROFILES))
    p.add_argument("--targets", nargs="+", default=None, choices=sorted(TARGETS),
                   help="default: every target")
    p.add_argument("--archs", nargs="+", default=None, choices=["A", "B"],
                   help="default: the profile's matrix")
    p.add_argument("--bn", choices=["on", "off", "both"], default=None,
                   help="default: the profile's matrix")
    p.add_argument("--seeds", nargs="+", type=int, default=None if seeds_default is None else list(seeds_default),
                   help="default: " + ("the profile's seeds" if seeds_default is None else
                                       " ".join(map(str, seeds_default))))
    p.add_argument("--device", default=None,
                   help="cpu (default) or cuda/gpu, the framework's accelerator (default: "
                        "$BNCONFORM_DEVICE, else cpu); a device a target's framework does not see is "
                        "a usage error for targets named with --targets, else a skip with its reason")
    p.add_argument("--epochs", type=int, help="override the profile (the run becomes 'custom')")
    p.add_argument("--n-train", type=int, help="override the profile's training subset")
    p.add_argument("--n-val", type=int, help="override model A's per-epoch validation subset")
    p.add_argument("--cifar-path", help="data location (else $CIFAR10_PATH, then the usual caches)")
    p.add_argument("--baselines", help="baseline file (default bnconform/cifar/baselines/baselines.json)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="framework threads per run (default 1; part of the baseline key)")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="runs at once (default: cores // threads)")
    p.add_argument("--nice", type=int, default=None, help="run the workers under nice -n N")
    p.add_argument("--timeout", type=float, default=None, help="seconds per run")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", help="results JSON (default results/cifar-<profile>.json)")


def build_parser(prog: str = "python -m bnconform.cifar") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="train the matrix and gate each run against its baseline")
    _matrix_args(p, seeds_default=None)
    p.add_argument("--broken-bn", action="store_true", help="invert the BN momentum's meaning")
    p.add_argument("--require-baseline", action="store_true", help="fail on no-baseline")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("baseline", help="train several seeds and record them as baselines")
    _matrix_args(p, seeds_default=(0, 1, 2, 3, 4))
    p.add_argument("--from", dest="from_results", nargs="+", metavar="RESULTS",
                   help="record from the runs in these results files instead of training")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("gate", help="re-judge the runs of results files against the baselines")
    p.add_argument("results", nargs="+")
    p.add_argument("--baselines")
    p.add_argument("--require-baseline", action="store_true")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("report", help="text report of results files")
    p.add_argument("results", nargs="+")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("locate", help="find, verify and decode the data; print its identity")
    p.add_argument("--cifar-path")
    p.set_defaults(func=cmd_locate)

    sub.add_parser("targets", help="list the targets").set_defaults(func=cmd_targets)

    add_worker_parser(sub, cmd_worker)
    return parser


def _jobs(args, broken_bn=False, targets=None, device="cpu"):
    from bnconform.app.progress import wanted

    from bnconform.cifar.worker import Job

    targets = targets or args.targets or list(TARGETS)
    profile = profiles.get(args.profile)
    matrix = profile.matrix
    archs = args.archs or sorted({arch for arch, _ in matrix})
    for target in targets:
        for arch in archs:
            bns = ({"on": [True], "off": [False], "both": [True, False]}[args.bn] if args.bn
                   else [bn for a, bn in matrix if a == arch] or [True])
            for bn in bns:
                for seed in (args.seeds if args.seeds is not None else profile.seeds):
                    yield Job(target=target, arch=arch, bn=bn, profile=args.profile, seed=seed,
                              broken_bn=broken_bn, cifar_path=args.cifar_path, epochs=args.epochs,
                              n_train=args.n_train, n_val=args.n_val,
                              progress=not args.no_progress, live=wanted(), device=device)


def _placed_targets(args):
    """``(device, targets, skipped)`` for ``run``/``baseline``, or a usage error's message (str).

    ``device``: ``--device`` normalized (:func:`bnconform.cifar.device.request`). On an accelerator every
    target is probed in its own worker (:class:`bnconform.cifar.worker.Job` ``task="probe"``): one named with
    ``--targets`` that does not see it is an error; otherwise it is skipped, ``skipped`` holding
    ``(target, reason)``. A profile meant for an accelerator is refused on the CPU."""
    from bnconform.app import processes

    from bnconform.cifar.device import request
    from bnconform.app.runner import DeviceUnavailable, RunFailed, run
    from bnconform.cifar.worker import Job

    try:
        device = request(args.device)
    except ValueError as exc:
        return str(exc)
    profile = profiles.get(args.profile)
    if profile.accelerator and device == "cpu":
        return (f"argument --profile: profile {profile.name!r} ({profile.description}) is meant for an "
                f"accelerator: pass --device cuda (or set {_env()}), or run the 'standard' and 'full' "
                "profiles on the CPU (about an hour a run there)")
    targets = list(args.targets or TARGETS)
    if device == "cpu":
        return device, targets, []
    probes = [Job(target=t, task="probe", device=device, progress=False) for t in targets]

    def probe(job):
        try:  # its stderr is the reason, quoted below: not passed through as well
            return run(job, threads=1, timeout=args.timeout, stream=io.BytesIO())
        except RunFailed as exc:
            return exc

    outcomes = processes.run_each(probe, probes, parallel=args.jobs or max(1, os.cpu_count() or 1))
    seen = [t for t, o in zip(targets, outcomes) if isinstance(o, dict)]
    unavailable = [(t, str(o)) for t, o in zip(targets, outcomes) if isinstance(o, DeviceUnavailable)]
    broken = [str(o) for o in outcomes if isinstance(o, RunFailed) and not isinstance(o, DeviceUnavailable)]
    if broken:  # installed but failing: an error, never a skip
        return f"--device {device}: a target's worker failed:\n" + "\n".join(broken)
    if args.targets and unavailable:
        return f"argument --device: {device} is not available:\n" + "\n".join(m for _, m in unavailable)
    if not seen:
        return (f"argument --device: no CIFAR-10 target sees device {device}:\n"
                + "\n".join(m for _, m in unavailable))
    return device, seen, unavailable


def _env() -> str:
    from bnconform.adapters.device import ENV

    return f"${ENV}"


def _execute(args, jobs, device="cpu") -> tuple[list, list]:
    """Run ``jobs``: ``--jobs`` at a time (default: cores // threads on the CPU; one on an
    accelerator, so that runs do not share the device and its images/s are the run's own)."""
    from bnconform.app.runner import run_many

    threads = args.threads or DEFAULT_THREADS
    parallel = args.jobs or (max(1, (os.cpu_count() or 1) // threads) if device == "cpu" else 1)
    records, errors = run_many(list(jobs), parallel=parallel, threads=threads, nice=args.nice,
                               timeout=args.timeout)
    for error in errors:
        print(f"ERROR {error}", file=sys.stderr)
    return records, errors


def _write_results(path, records, command, skipped=()) -> None:
    """The results file; ``skipped``: ``(target, reason)`` of the targets not trained (device)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"schema": "bnconform-cifar/1", "command": command, "cifar": records}
    if skipped:
        doc["skipped"] = [{"target": t, "reason": r} for t, r in skipped]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)


def _exit_code(records, errors, require_baseline) -> int:
    if errors:
        return 2
    bad = {"fail"} | ({"no-baseline"} if require_baseline else set())
    return 1 if any(r["verdict"] in bad for r in records) else 0


def cmd_run(args) -> int:
    from bnconform.cifar.baselines import Store
    from bnconform.cifar.verdict import judge, summary_line

    placed = _placed_targets(args)
    if isinstance(placed, str):
        return usage_error(args.prog, placed)
    device, targets, skipped = placed
    _print_skipped(skipped)
    store = Store.load(args.baselines)
    t0 = time.perf_counter()
    records, errors = _execute(args, _jobs(args, broken_bn=args.broken_bn, targets=targets, device=device),
                               device)
    for record in records:
        judge(record, store)
        print(summary_line(record))
    print(f"{len(records)} runs in {time.perf_counter() - t0:.0f} s")
    _write_results(args.out or DEFAULT_OUT / f"cifar-{args.profile}.json", records, args.command_line,
                   skipped)
    return _exit_code(records, errors, args.require_baseline)


def _print_skipped(skipped) -> None:
    for target, reason in skipped:
        print(f"SKIP {target}: {reason}", file=sys.stderr)


def cmd_baseline(args) -> int:
    from bnconform.cifar.baselines import Store, full_key

    command = args.command_line
    if args.from_results:
        records, errors = [r for r in _load_records(args.from_results)
                           if not r.get("broken_bn") and r["profile"] == args.profile], []
        made_by = sorted({json.loads(Path(p).read_text()).get("command") or "?"
                          for p in args.from_results})
        command = f"{command}  # runs made by: {'; '.join(made_by)}"
    elif len(set(args.seeds)) < 3:
        return usage_error(args.prog, "argument --seeds: give at least 3 distinct seeds")
    else:
        placed = _placed_targets(args)
        if isinstance(placed, str):
            return usage_error(args.prog, placed)
        device, targets, skipped = placed
        _print_skipped(skipped)
        records, errors = _execute(args, _jobs(args, targets=targets, device=device), device)
    groups: dict = {}
    for record in records:
        groups.setdefault(full_key(record), {})[record["seed"]] = record  # last run of a seed wins
    store = Store.load(args.baselines)
    for group in groups.values():
        group = [group[seed] for seed in sorted(group)]
        first = group[0]
        key = (first["target"], first["arch"], first["bn"])
        if len(group) < 3:
            print(f"{key[0]:<16} {key[1]} {'BN' if key[2] else 'no-BN'}: only {len(group)} seeds, "
                  "not recorded", file=sys.stderr)
            continue
        entry = store.record(group, command=command)
        band = entry["band"]
        print(f"{key[0]:<16} {key[1]} {'BN' if key[2] else 'no-BN'}: accuracies "
              f"{' '.join(f'{a:.4f}' for a in entry['accuracies'])}; mean {band['mean']:.4f} "
              f"sd {band['std']:.4f} threshold {band['threshold']:.4f}")
    store.save()
    print(f"baselines in {store.path}")
    if not args.from_results:
        _write_results(args.out or DEFAULT_OUT / f"cifar-baseline-{args.profile}.json", records,
                       command)
    return 2 if errors else 0


def _load_records(paths) -> list:
    records = []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text())
            records += doc["cifar"] if isinstance(doc, dict) else doc
        except (OSError, ValueError, KeyError) as exc:  # a usage error, named (exit 2)
            raise ValueError(f"{path}: not a readable CIFAR-10 results file: {exc}") from exc
    return records


def cmd_gate(args) -> int:
    from bnconform.cifar.baselines import Store
    from bnconform.cifar.verdict import judge, summary_line

    try:
        store = Store.load(args.baselines)
        records = [judge(r, store) for r in _load_records(args.results)]
    except ValueError as exc:
        return usage_error(args.prog, str(exc))
    for record in records:
        print(summary_line(record))
    return _exit_code(records, [], args.require_baseline)


def cmd_report(args) -> int:
    from bnconform.cifar.report import render_text

    return print_rendered(args.prog, _load_records, render_text, args.results)


def cmd_locate(args) -> int:
    from bnconform.cifar.dataset import load
    from bnconform.cifar.errors import DataError

    try:
        data = load(args.cifar_path)
    except DataError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps({**data.describe(), "train": list(data.x_train.shape),
                      "test": list(data.x_test.shape)}, indent=1))
    return 0


def cmd_worker(args) -> int:
    from bnconform.cifar.device import UNAVAILABLE_EXIT, Unavailable
    from bnconform.cifar.worker import work

    try:
        work(args.job, args.out)
    except Unavailable as exc:  # the last stderr line: the runner quotes it (DeviceUnavailable)
        print(exc, file=sys.stderr)
        return UNAVAILABLE_EXIT
    return 0


def cmd_targets(args) -> int:
    for target, (_, framework, backend) in TARGETS.items():
        print(f"{target:<18} {framework}{' on ' + backend if backend else ''}")
    return 0


def main(argv=None, prog: str = "python -m bnconform.cifar") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    # the command line as recorded in results and baselines (how to make them again)
    parser.set_defaults(command_line="python -m bnconform.cifar " + " ".join(shlex.quote(a) for a in argv),
                        prog=prog)
    return dispatch(parser, argv)
