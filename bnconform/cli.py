"""The ``bnconform`` command.

    bnconform run        the main job: conformance over every installed framework (one pytest
                         process per framework family), then the HTML report and the gate
    bnconform replay     re-run one example (the command every failure prints)
    bnconform targets    which adapters exist and which can load here
    bnconform report     merge results files into one HTML report      (reports.cli)
    bnconform gate       exit 0 / 1 / 2 on results + known deviations  (reports.cli)
    bnconform cifar      CIFAR-10 training, baselines and its gate     (cifar.cli)
    bnconform blobs      the two-blob end-to-end check                 (blobs.cli)

Every subcommand returns its exit code; 2 is a usage or input error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

USAGE = 2
ROOT = Path(__file__).resolve().parents[1]

# One pytest process per family: a crash loses nothing of the others, and each Keras backend
# starts in its own process (Keras fixes its backend at import).
GROUPS = {
    "torch": ("torch", "torch-functional"),
    "keras-tensorflow": ("keras-tensorflow",),
    "keras-jax": ("keras-jax",),
    "keras-torch": ("keras-torch",),
    "tf_keras": ("tf_keras",),
    "jax": ("jax", "flax-linen", "flax-nnx"),
}


def _groups(selected: list[str] | None) -> dict[str, list[str]]:
    import adapters

    known = [info.name for info in adapters.discover()]
    wanted = selected or known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ValueError(f"--target: unknown adapter(s) {', '.join(unknown)}; known: {', '.join(known)}")
    groups: dict[str, list[str]] = {}
    for name in wanted:
        family = next((g for g, members in GROUPS.items() if name in members), name)
        groups.setdefault(family, []).append(name)
    return groups


def _pytest_command(targets, results_dir: Path, run_name: str, profile: str, extra) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "tests/conformance", "-p", "no:cacheprovider", "-q",
           "--hypothesis-profile", profile, "--results", str(results_dir), "--run-name", run_name]
    for target in targets:
        cmd += ["--target", target]
    return cmd + list(extra)


def cmd_run(args) -> int:
    from reports.cli import main_gate, main_report

    try:
        groups = _groups(args.target)
    except ValueError as e:
        print(f"bnconform run: {e}", file=sys.stderr)
        return USAGE
    blobs_targets = None
    if args.blobs:
        from cifar.backends import TARGETS as BLOB_TARGETS

        blobs_targets = [t for t in args.target if t in BLOB_TARGETS] if args.target else []
        if args.target and not blobs_targets:
            print(f"bnconform run: --blobs: none of the targets {', '.join(args.target)} has a two-blob "
                  f"trainer ({', '.join(BLOB_TARGETS)})", file=sys.stderr)
            return USAGE
    cifar_targets = None
    if args.cifar:
        from cifar.backends import TARGETS as CIFAR_TARGETS

        cifar_targets = [t for t in args.target if t in CIFAR_TARGETS] if args.target else []
        if args.target and not cifar_targets:
            print(f"bnconform run: --cifar: none of the targets {', '.join(args.target)} has a CIFAR-10 "
                  f"trainer ({', '.join(CIFAR_TARGETS)})", file=sys.stderr)
            return USAGE
    results = Path(args.results)
    jobs = []
    for family, targets in groups.items():
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        if family.startswith("keras-"):
            env["KERAS_BACKEND"] = family.removeprefix("keras-")
        out = results / family
        cmd = _pytest_command(targets, out, f"{args.name}/{family}", args.profile, args.pytest_args)
        jobs.append((family, cmd, env, out))
    print(f"bnconform run: {len(jobs)} framework families, profile {args.profile!r}, {args.jobs} at a time")
    running: list = []
    codes: dict[str, int] = {}
    started = time.monotonic()
    while jobs or running:
        while jobs and len(running) < args.jobs:
            family, cmd, env, out = jobs.pop(0)
            out.mkdir(parents=True, exist_ok=True)
            log = open(out / "pytest.log", "w")  # noqa: SIM115 - closed when the process ends
            print(f"  start {family}: {' '.join(cmd[2:])}", flush=True)
            running.append((family, subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log, time.monotonic()))
        time.sleep(0.5)
        for item in list(running):
            family, proc, log, t0 = item
            if proc.poll() is not None:
                log.close()
                codes[family] = proc.returncode
                running.remove(item)
                tail = (results / family / "pytest.log").read_text(errors="replace").strip().splitlines()[-1:]
                print(f"  done  {family}: exit {proc.returncode} in {time.monotonic() - t0:.0f} s  {tail[0] if tail else ''}", flush=True)
    print(f"conformance finished in {time.monotonic() - started:.0f} s")
    cifar_code = _run_cifar(args.cifar, cifar_targets, results) if args.cifar else 0
    blobs_code = _run_blobs(blobs_targets, results) if args.blobs else 0
    files = sorted(str(p) for p in results.glob("*/results.json"))
    if not files:
        print("bnconform run: no results were written; see the pytest.log files", file=sys.stderr)
        return 1
    report_code = main_report([*files, "-o", args.out])
    if report_code != 0:
        return report_code
    print(f"report: {Path(args.out) / 'index.html'}")
    gate_code = main_gate(files)
    return gate_code or cifar_code or blobs_code


def _run_blobs(targets: list[str], results: Path) -> int:
    """``--blobs``: the two-blob CI matrix (``python -m blobs run``; on ``targets``, or every target
    when empty) into ``results/blobs/results.json``, read by the report and the gate with the
    conformance runs. Returns its exit code: 0, 1 (a check failed) or 2 (a run could not be done)."""
    out = results / "blobs" / "results.json"
    out.unlink(missing_ok=True)  # never report an earlier session's runs as this one's
    cmd = [sys.executable, "-m", "blobs", "run", "--out", str(out)]
    if targets:
        cmd += ["--targets", *targets]
    print(f"  start blobs: {' '.join(cmd[2:])}", flush=True)
    started = time.monotonic()
    code = subprocess.call(cmd, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    print(f"  done  blobs: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
    return code


def _run_cifar(profile: str, targets: list[str], results: Path) -> int:
    """``--cifar PROFILE``: train the CIFAR-10 profile's matrix (``python -m cifar run``; on
    ``targets``, or every CIFAR-10 target when empty) into ``results/cifar/results.json``, which the
    report and the gate read with the conformance runs. Returns its exit code: 0, 1 (a run below its
    baseline band) or 2 (no data, a run that failed)."""
    out = results / "cifar" / "results.json"
    out.unlink(missing_ok=True)  # never report an earlier session's training as this one's
    cmd = [sys.executable, "-m", "cifar", "run", "--profile", profile, "--out", str(out), "--no-progress"]
    if targets:
        cmd += ["--targets", *targets]
    print(f"  start cifar: {' '.join(cmd[2:])}", flush=True)
    started = time.monotonic()
    code = subprocess.call(cmd, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    print(f"  done  cifar: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
    return code


def cmd_replay(args) -> int:
    import adapters
    from bnconform import cases, checks

    try:
        case = cases.from_json(args.case)
        adapter = adapters.load(args.target)
    except (ValueError, json.JSONDecodeError) as e:
        print(f"bnconform replay: {e}", file=sys.stderr)
        return USAGE
    except adapters.Unavailable as e:
        print(f"bnconform replay: {e}", file=sys.stderr)
        return USAGE
    try:
        comparisons = checks.run_check(args.property, adapter, case, args.mode)
    except ValueError as e:
        print(f"bnconform replay: {e}", file=sys.stderr)
        return USAGE
    fw = adapter.describe()
    print(f"{args.property} | {adapter.name} ({fw['framework']} {fw['version']}) | mode {args.mode} | {case.dtype}")
    for c in comparisons:
        print(c.message())
    return 0 if all(c.ok for c in comparisons) else 1


def cmd_targets(args) -> int:
    import adapters

    for info in adapters.discover():
        reason = info.missing()
        status = f"available ({info.framework} {info.version()})" if reason is None else f"unavailable: {reason}"
        print(f"{info.name:18s} {status}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("report", "gate", "cifar", "blobs"):
        sub, rest = argv[0], argv[1:]
        if sub == "cifar":
            from cifar.cli import main as cifar_main

            return cifar_main(rest)
        if sub == "blobs":
            from blobs.cli import main as blobs_main

            return blobs_main(rest)
        from reports.cli import main_gate, main_report

        return (main_report if sub == "report" else main_gate)(rest, prog=f"bnconform {sub}")

    parser = argparse.ArgumentParser(prog="bnconform", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="the main job: conformance over every installed framework, report, gate")
    run.add_argument("--profile", default=os.environ.get("BNCONFORM_PROFILE", "ci"),
                     choices=("ci", "dev", "thorough"), help="Hypothesis profile (default: ci)")
    run.add_argument("--target", action="append", help="only these adapters (repeatable; default: all)")
    run.add_argument("--results", default="results", help="results directory (default: results/)")
    run.add_argument("--out", default="reports/out", help="report directory (default: reports/out/)")
    run.add_argument("--name", default=os.environ.get("TOX_ENV_NAME", "local"), help="run name (default: local)")
    run.add_argument("-j", "--jobs", type=int, default=1, help="framework families run at once (default 1)")
    run.add_argument("--cifar", metavar="PROFILE", choices=("quick", "standard", "full"),
                     help="also train the CIFAR-10 models of this profile (quick: about 10 min on 2 cores) "
                          "and gate them on their baselines")
    run.add_argument("--blobs", action="store_true",
                     help="also train the two-blob networks (the CI matrix: about 2 min on 2 cores) and "
                          "check them against the Bayes-optimal accuracy")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    run.set_defaults(func=cmd_run)
    rep = sub.add_parser("replay", help="re-run one example and print the comparison")
    rep.add_argument("target")
    rep.add_argument("property")
    rep.add_argument("mode")
    rep.add_argument("case", help="the case JSON a failure printed")
    rep.set_defaults(func=cmd_replay)
    tg = sub.add_parser("targets", help="list the adapters and whether they load here")
    tg.set_defaults(func=cmd_targets)
    sub.add_parser("report", help="merge results into one HTML report (bnconform report -h)")
    sub.add_parser("gate", help="exit 0/1/2 on results and known deviations (bnconform gate -h)")
    sub.add_parser("cifar", help="CIFAR-10 accuracy regression (bnconform cifar -h)")
    sub.add_parser("blobs", help="the two-blob end-to-end check (bnconform blobs -h)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return USAGE if e.code else 0
    if not getattr(args, "func", None):
        parser.print_help()
        return USAGE
    if getattr(args, "jobs", 1) < 1:
        print("bnconform run: --jobs must be >= 1", file=sys.stderr)
        return USAGE
    return args.func(args)
