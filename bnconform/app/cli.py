"""The ``bnconform`` command.

    bnconform run        the main job: conformance over every installed framework (one pytest
                         process per framework family), then the HTML report and the gate
    bnconform replay     re-run one example (the command every failure prints)
    bnconform targets    which adapters exist, which are installed (--load: which load) here
    bnconform report     merge results files into one HTML report      (bnconform.app.reports_cli)
    bnconform gate       exit 0 / 1 / 2 on results + known deviations  (bnconform.app.reports_cli)
    bnconform cifar      CIFAR-10 training, baselines and its gate     (bnconform.app.cifar_cli)
    bnconform blobs      the two-blob end-to-end check                 (bnconform.app.blobs_cli)
    bnconform bisect     which release changed a replay's verdict      (bnconform.app.bisect_cli)

Every subcommand returns its exit code; 2 is a usage or input error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bnconform.engines import kernels as kernel_configs
from bnconform.app import processes
from bnconform.app import progress
from bnconform.app.commandline import USAGE, dispatch, positive_int

#: the directory the ``bnconform`` package is imported from: every child process imports the same copy
IMPORT_ROOT = Path(__file__).resolve().parents[2]
#: the conformance suite, shipped in the package (``pytest --pyargs bnconform.conformance``)
SUITE = "bnconform.conformance"
SUITE_DIR = Path(__file__).resolve().parents[1] / "conformance"


def _child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this one's, with this copy of ``bnconform`` first on
    ``PYTHONPATH`` and then the current directory (a ``--bn-impl`` module of the user's project)."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(IMPORT_ROOT), os.getcwd(), os.environ.get("PYTHONPATH")) if p)
    return env


def _groups(selected: list[str] | None) -> dict[str, list[str]]:
    """The targets by family: ``selected``, else every target whose framework is installed (a
    broken one included: its tests are errors). Each family's pytest run declares its targets, and
    the gate fails a run none of whose declared targets was tested, so a target that is not
    installed is named here and left out; one asked for by name is a ``ValueError`` (a usage error
    before anything runs) naming it and this interpreter."""
    from bnconform import adapters

    known = [info.name for info in adapters.discover()]
    if selected:
        wanted = selected
    else:
        wanted = [info.name for info in adapters.discover() if info.missing() is None]
        absent = [f"{info.name} ({info.missing()})" for info in adapters.discover() if info.missing() is not None]
        if absent:
            print(f"bnconform run: not installed, not run: {', '.join(absent)}")
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ValueError(f"--target: unknown adapter(s) {', '.join(unknown)}; known: {', '.join(known)}")
    absent = [f"{name} ({adapters.get(name).missing()})" for name in wanted if adapters.get(name).missing() is not None]
    if absent:
        raise ValueError(f"--target: not installed in this environment ({sys.executable}): {'; '.join(absent)}")
    groups: dict[str, list[str]] = {}
    for name in wanted:  # the registry's family: one pytest process each (bnconform.adapters.registry)
        groups.setdefault(adapters.get(name).family, []).append(name)
    return groups


def _pytest_command(targets, results_dir: Path, run_name: str, profile: str, extra, device: str = "cpu",
                    kernels: str = "default", known: Path | None = None) -> list[str]:
    """The family's pytest command: the shipped suite with its own configuration (``-c``,
    ``--rootdir``: the user's pytest configuration and conftest files do not apply), the results in
    ``results_dir``."""
    cmd = [sys.executable, "-m", "pytest", "--pyargs", SUITE, "-p", "bnconform.app.suite_plugin", "-p", "no:cacheprovider",
           "-c", str(SUITE_DIR / "pytest.ini"), "--rootdir", str(SUITE_DIR), "-q",
           "--hypothesis-profile", profile, "--results", str(results_dir.resolve()), "--run-name", run_name,
           "--device", device, "--kernels", kernels]
    if known is not None:
        cmd += ["--known-deviations", str(known)]
    for target in targets:
        cmd += ["--target", target]
    return cmd + list(extra)


def _kernel_plan(groups: dict[str, list[str]], requested: list[str] | None) -> dict[str, list[str]]:
    """The kernel configurations each family runs (``--kernels``, ``bnconform.engines.kernels.expand``); a
    configuration this machine's default already takes (measured: ``python -m bnconform.adapters.kernel_paths``
    in a clean interpreter) is dropped with a line saying so, since its run would repeat the
    default's. ``ValueError`` for an unknown name, or names that apply to no family asked for."""
    from bnconform import adapters

    requested = requested or [os.environ.get(kernel_configs.ENV) or kernel_configs.DEFAULT]
    plan = {family: kernel_configs.expand(requested, adapters.get(targets[0]).engine)
            for family, targets in groups.items()}
    if not any(plan.values()):
        raise ValueError(f"--kernels {' '.join(requested)}: no family asked for has such a configuration "
                         f"(families: {', '.join(groups)}; configurations: {', '.join(kernel_configs.names())})")
    defaults: dict[str, str | None] = {}
    for family, configs in plan.items():
        engine = adapters.get(groups[family][0]).engine
        if not configs:
            print(f"bnconform run: {family}: none of the kernel configurations asked for is one of {engine}'s "
                  f"({', '.join(c.name for c in kernel_configs.for_engine(engine)) or 'it declares none'}): not run")
            continue
        if configs == [kernel_configs.DEFAULT]:
            continue
        if engine not in defaults:
            defaults[engine] = _default_path(engine)
        same = defaults[engine]
        if same in configs and kernel_configs.DEFAULT in configs:
            configs.remove(same)
            print(f"bnconform run: {family}: kernel configuration {same} is this machine's default for {engine} "
                  "(measured): run once, as default")
    return plan


def _default_path(engine: str | None) -> str | None:
    """The configuration ``engine``'s default path is on this machine, measured in a clean interpreter
    (None if it cannot be measured: the family's own run then says why)."""
    env = {k: v for k, v in _child_env(TF_CPP_MIN_LOG_LEVEL="3").items() if k != kernel_configs.ENV}
    proc = subprocess.run([sys.executable, "-m", "bnconform.adapters.kernel_paths", str(engine)], env=env,
                          capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])["name"] if proc.returncode == 0 and lines else None
    except (ValueError, KeyError):
        return None


def _project_deviations(option: str | None) -> Path | None:
    """The project's known-deviations file (``--known-deviations``, else ./bnconform.toml, else
    ./pyproject.toml with a ``[tool.bnconform]`` table; None if none), loaded with the shipped file
    before any framework runs, so a bad entry costs no run (``DeviationsError`` names PATH:LINE)."""
    from bnconform.reports import known

    project = Path(option).resolve() if option else known.project_file(Path.cwd())
    known.load(project, directory=None)
    return project.resolve() if project is not None else None


def _writable(option: str, path: Path) -> str | None:
    """Why ``path`` (a directory ``bnconform run`` writes) cannot be written, or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".bnconform-write-test-"):
            pass
    except OSError as e:
        return f"{option} {path}: cannot write there ({e.strerror or e})"
    return None


def _trainer_targets(option: str, what: str, targets: list[str]) -> list[str]:
    """The asked-for targets that have a trainer (``bnconform.training.targets.TARGETS``, shared by the CIFAR-10
    and two-blob harnesses); [] for all of them when none was asked for; ValueError when targets were
    asked for and none has one."""
    from bnconform.training.targets import TARGETS

    chosen = [t for t in targets if t in TARGETS] if targets else []
    if targets and not chosen:
        raise ValueError(f"{option}: none of the targets {', '.join(targets)} has a {what} trainer "
                         f"({', '.join(TARGETS)})")
    return chosen


def cmd_run(args) -> int:
    from bnconform.app.reports_cli import main_gate, main_report

    try:
        groups = _groups(args.target)
    except ValueError as e:
        print(f"bnconform run: {e}", file=sys.stderr)
        return USAGE
    if not groups:  # nothing to test is a failed gate, not a usage error
        print("bnconform run: no framework is installed here (`bnconform targets` lists what is looked for)",
              file=sys.stderr)
        return 1

    from bnconform.reports.deviations import DeviationsError

    try:
        project = _project_deviations(args.known_deviations)
    except DeviationsError as e:
        print(f"bnconform run: known deviations: {e}", file=sys.stderr)
        return USAGE
    try:
        blobs_targets = _trainer_targets("--blobs", "two-blob", args.target) if args.blobs else None
        cifar_targets = _trainer_targets("--cifar", "CIFAR-10", args.target) if args.cifar else None
    except ValueError as e:
        print(f"bnconform run: {e}", file=sys.stderr)
        return USAGE
    try:
        device = _device_arg(args.device)
    except ValueError as e:
        print(f"bnconform run: {e}", file=sys.stderr)
        return USAGE
    if args.cifar == "gpu" and device == "cpu":  # cifar refuses it too, but only after the conformance runs
        print("bnconform run: --cifar gpu is meant for an accelerator: pass --device cuda "
              "(on the CPU: --cifar standard or full)", file=sys.stderr)
        return USAGE
    if device != "cpu":  # asked for an accelerator: usage error if no family sees one
        seen = {family: _probe(targets[0], device) for family, targets in groups.items()}
        if not any(found["status"] == "loads" for found in seen.values()):
            print(f"bnconform run: --device {device}: no installed framework sees that device:\n"
                  + "\n".join(f"  {family}: {found['detail']}" for family, found in seen.items()), file=sys.stderr)
            return USAGE
    try:
        plan = _kernel_plan(groups, args.kernels)
    except ValueError as e:
        print(f"bnconform run: {e}", file=sys.stderr)
        return USAGE
    # the last check before anything runs, as it creates the directories
    results, out_dir = Path(args.results).resolve(), Path(args.out).resolve()
    for option, path in (("--results", results), ("--out", out_dir)):
        problem = _writable(option, path)
        if problem is not None:
            print(f"bnconform run: {problem}", file=sys.stderr)
            return USAGE
    jobs = []
    for family, targets in groups.items():
        for config in plan[family]:
            env = _child_env(TF_CPP_MIN_LOG_LEVEL="2", PYTHONDONTWRITEBYTECODE="1", **{kernel_configs.ENV: config})
            env.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path.cwd() / ".hypothesis"))
            if family.startswith("keras-"):
                env["KERAS_BACKEND"] = family.removeprefix("keras-")
            label = family if config == kernel_configs.DEFAULT else f"{family}@{config}"
            out = results / label
            cmd = _pytest_command(targets, out, f"{args.name}/{label}", args.profile, args.pytest_args, device,
                                  config, project)
            jobs.append((label, cmd, env, out))
    print(f"bnconform run: {len(jobs)} runs ({len(groups)} framework families), profile {args.profile!r}, "
          f"{args.jobs} at a time")
    bars = progress.wanted(args.progress)
    started = time.monotonic()
    processes.run_each(lambda job: _run_family(*job, bars=bars), jobs, parallel=args.jobs)
    print(f"conformance finished in {time.monotonic() - started:.0f} s")
    cifar_code = _run_cifar(args.cifar, cifar_targets, results, device) if args.cifar else 0
    blobs_code = _run_blobs(blobs_targets, results) if args.blobs else 0
    written = [out / "results.json" for *_, out in jobs]  # this run's files, not an earlier run's
    written += [results / name / "results.json" for name, asked in (("cifar", args.cifar), ("blobs", args.blobs))
                if asked]
    files = [str(p) for p in written if p.is_file()]
    if not files:
        print("bnconform run: no results were written; see the pytest.log files", file=sys.stderr)
        return 1
    known = ["--known-deviations", str(project)] if project is not None else []
    report_code = main_report([*files, "-o", str(out_dir), *known])
    if report_code != 0:
        return report_code
    print(f"report: {out_dir / 'index.html'}")
    gate_code = main_gate([*files, *known])
    return gate_code or cifar_code or blobs_code


def _run_family(family: str, cmd: list[str], env: dict, out: Path, *, bars: bool) -> int:
    """One family's pytest process, its output in ``out/pytest.log``, its progress events (see
    :mod:`bnconform.app.progress`) on a pipe; prints its start and done lines, returns its exit code."""
    out.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    cmd = [*cmd, "-p", "bnconform.app.progress"]
    progress.say(f"  start {family}: {' '.join(cmd[2:])}", bars=bars)
    t0 = time.monotonic()
    try:
        with open(out / "pytest.log", "w") as log, processes.popen(
                cmd, cwd=out.resolve(), env={**env, progress.ENV: str(write_end)}, stdout=log,
                stderr=subprocess.STDOUT, pass_fds=(write_end,)) as child:
            os.close(write_end)
            write_end = None
            with os.fdopen(read_end, "rb") as pipe:
                read_end = None
                counts = progress.follow(pipe, family, enabled=bars)
            code = child.wait()
    finally:
        for fd in (read_end, write_end):
            if fd is not None:
                os.close(fd)
    tail = (out / "pytest.log").read_text(errors="replace").strip().splitlines()[-1:]
    progress.say(f"  done  {family}: exit {code} in {time.monotonic() - t0:.0f} s, {counts.text()}"
                 f"  {tail[0] if tail else ''}", bars=bars)
    return code


def _run_experiment(name: str, args: list[str], targets: list[str], results: Path) -> int:
    """``python -m NAME run ARGS --out results/NAME/results.json [--targets ...]`` (``targets``
    empty: every target of the experiment), the file the report and the gate read with the
    conformance runs. Returns its exit code."""
    out = results / name / "results.json"
    out.unlink(missing_ok=True)  # never report an earlier session's runs as this one's
    cmd = [sys.executable, "-m", f"bnconform.{name}", "run", *args, "--out", str(out)]
    if targets:
        cmd += ["--targets", *targets]
    print(f"  start {name}: {' '.join(cmd[2:])}", flush=True)
    started = time.monotonic()
    with processes.popen(cmd, env=_child_env(TF_CPP_MIN_LOG_LEVEL="2")) as child:
        code = child.wait()
    print(f"  done  {name}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
    return code


def _run_blobs(targets: list[str], results: Path) -> int:
    """``--blobs``: the two-blob CI matrix (``python -m bnconform.blobs run``). Exit code 0, 1 (a check
    failed) or 2 (a run could not be done)."""
    return _run_experiment("blobs", [], targets, results)


def _run_cifar(profile: str, targets: list[str], results: Path, device: str = "cpu") -> int:
    """``--cifar PROFILE``: the CIFAR-10 profile's matrix (``python -m bnconform.cifar run``) on ``device``.
    Exit code 0, 1 (a run below its baseline band) or 2 (no data, a run that failed, a device no
    target sees)."""
    return _run_experiment("cifar", ["--profile", profile, "--no-progress", "--device", device], targets, results)


def _replayed(prop_name: str, case_json: str):
    """(the property's row, the case), or ``ValueError`` when the case is not one the property
    checks (another op, or a pooling kind the row does not draw)."""
    from bnconform import cases, properties

    prop = properties.get(prop_name)
    case = cases.from_json(case_json)
    if case.op != prop.op:
        raise ValueError(f"case: a {case.op} case, but property {prop.name} checks {prop.op}")
    kind = getattr(case, "kind", None)
    if prop.kinds and kind not in prop.kinds:
        raise ValueError(f"case: {kind} pooling, but property {prop.name} checks {', '.join(prop.kinds)} pooling")
    return prop, case


def _register_user_target(target: str) -> None:
    """A ``user-FRAMEWORK:MODULE.NAME`` target (a ``--bn-impl`` layer's failure) is registered from its
    name, so that the replay line it printed runs as printed (``UsageError`` is a ``ValueError``)."""
    from bnconform.adapters import user_impl

    spec = user_impl.spec_of_target(target)
    if spec is not None:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        user_impl.register_user_impl(spec)


class _ReplayOutput:
    """What a replay says: its lines on stdout and its complaints on stderr as it goes, or (``--json``)
    one JSON object on stdout at the end, :meth:`record`: ``verdict`` (one of :data:`REPLAY_VERDICTS`),
    ``exit`` (the exit code), ``lines`` (the human lines), ``message`` (a usage or load error), and
    ``framework``/``version``/``heading`` once the target loaded, and for an ``error`` ``origin``
    (``framework``, ``suite`` or ``other``: ``bnconform.reports.error_origin``) and ``raised_in``.
    ``bnconform bisect`` reads it: a release where the suite itself raised is not judged."""

    def __init__(self, args, as_json: bool):
        self.as_json = as_json
        self.record = {"target": args.target, "property": args.property, "mode": args.mode,
                       "verdict": None, "exit": None, "lines": [], "message": None}

    def line(self, text: str) -> None:
        self.record["lines"].append(text)
        if not self.as_json:
            print(text)

    def done(self, verdict: str, code: int, message: str | None = None) -> int:
        if message is not None:
            print(f"bnconform replay: {message}", file=sys.stderr)
        self.record.update(verdict=verdict, exit=code, message=message)
        if self.as_json:
            print(json.dumps(self.record))
        return code


#: the verdicts of ``bnconform replay --json``, with their exit codes: pass 0; fail (an output outside
#: its tolerance) 1; error (the framework raised on this case: the conformance test's ``error``) 1;
#: broken (the target is installed but does not import or build) 1; usage (the arguments, or a target
#: that is not installed here) 2
REPLAY_VERDICTS = {"pass": 0, "fail": 1, "error": 1, "broken": 1, "usage": USAGE}


def cmd_replay(args) -> int:
    from bnconform import adapters
    from bnconform.adapters import kernel_paths
    from bnconform import checks
    from bnconform.reports.targets import kernels_for_dtype

    out = _ReplayOutput(args, getattr(args, "json", False))
    try:
        prop, case = _replayed(args.property, args.case)
        kernel_paths.select(args.kernels)  # before the framework is imported
        _register_user_target(args.target)
        adapter = adapters.load(args.target, _device_arg(args.device))
    except (ValueError, json.JSONDecodeError, adapters.Unavailable) as e:
        return out.done("usage", USAGE, str(e))
    except adapters.Broken as e:  # installed but failing: not a usage error, the framework's fault
        return out.done("broken", 1, str(e))
    path = adapters.kernels_of(args.target)
    if path is not None and not path["honoured"]:
        return out.done("usage", USAGE, f"--kernels: {path['reason']}")
    fw = adapter.describe()
    where = adapter.device_record()
    heading = (f"{args.property} | {adapter.name} ({fw['framework']} {fw['version']}) | mode {args.mode} | {case.dtype}"
               f" | device {where['name'] or where['platform']}"
               + (f" | kernels {kernels_for_dtype(path, case.dtype)} (asked: {path['asked']})" if path else ""))
    out.record.update(framework=fw["framework"], version=fw["version"], heading=heading)
    try:
        example = checks.run(prop.name, adapter, case, args.mode)
    except ValueError as e:
        if _USAGE_MESSAGE.match(str(e)):  # the suite refused the arguments before calling the framework
            return out.done("usage", USAGE, str(e))
        return _framework_error(out, heading, e, case, _crash_lines(adapter, prop.name, case, args, e))
    except Exception as e:  # noqa: BLE001 - whatever the framework raises is its verdict: error
        return _framework_error(out, heading, e, case, _crash_lines(adapter, prop.name, case, args, e))
    comparisons = checks.judge(example)
    out.line(heading)
    for c in comparisons:
        out.line(c.message())
    if not all(c.ok for c in comparisons):
        for line in _known_deviation_lines(adapter, example, args.known_deviations):
            out.line(line)
        return out.done("fail", 1)
    return out.done("pass", 0)


#: the suite's own refusals of a replay's arguments start with the argument's name (bnconform.checks)
_USAGE_MESSAGE = re.compile(r"^(mode|target|kind|property|case|numerics|conventions): ")


def _framework_error(out: _ReplayOutput, heading: str, exc: BaseException, case,
                     decision: tuple[list[str], str | None] = ([], None)) -> int:
    """A framework's exception during a replay, as its verdict: one paragraph (what raised, the
    message, the case, where it ran), no traceback, then what the conformance run decides of this
    crash (``decision``: :func:`_crash_lines`, the entries tried and the one whose crash model
    explains it, if any); exit 1 (verdict ``error``) either way: the framework did not return."""
    lines, explained_by = decision
    message = " ".join(str(exc).split()) or "(no message)"
    if len(message) > 2000:
        message = message[:2000] + " ..."
    out.line(heading)
    verdict = ("verdict: error (the conformance test of this case records an error, not a failed property)"
               if explained_by is None else
               f"verdict: error, a known crash (the conformance test counts this example as the known deviation "
               f"{explained_by} and goes on checking)")
    out.line(f"ERROR: the framework raised {type(exc).__module__}.{type(exc).__qualname__}: {message}\n"
             f"case: {case.dumps()}")
    for line in lines:
        out.line(line)
    out.line(verdict)
    from bnconform.reports import error_origin

    found = error_origin.origin_of(exc)  # who raised: the framework, the suite or other (bisect reads it)
    out.record.update(origin=found[0] if found else None, raised_in=found[1] if found else None)
    return out.done("error", 1)


def _crash_lines(adapter, prop: str, case, args, exc: BaseException) -> tuple[list[str], str | None]:
    """What the conformance run decides of this crash (:func:`_known_deviation_lines` on a
    :class:`bnconform.explanation.Crash`): its lines, and the id of the entry that explains it or None."""
    from bnconform import explanation, properties

    crash = explanation.Crash(prop, properties.get(prop).check, case, args.mode, exc)
    lines, decision = _known_deviation_decision(adapter, crash, args.known_deviations)
    if decision is None or not decision.attempts:
        return lines, None
    if decision.explained_by is None:
        lines = lines[:-1] if lines and lines[-1].startswith("verdict:") else lines
        return lines + ["no entry that covers this test explains this crash"], None
    return lines, decision.explained_by.entry.id


_PROBE = """
import json, sys
from bnconform import adapters
name = sys.argv[1]
try:
    adapter = adapters.load(name, sys.argv[2] if len(sys.argv) > 2 else None)
except adapters.Unavailable as e:
    print(json.dumps({"status": "not installed", "detail": str(e)}))
except adapters.Broken as e:
    print(json.dumps({"status": "BROKEN", "detail": str(e)}))
else:
    print(json.dumps({"status": "loads", "detail": adapters.imported(name)}))
"""


def _device_arg(name: str | None) -> str:
    """``--device`` (else ``$BNCONFORM_DEVICE``, else cpu) as ``cpu`` or ``cuda``; ``ValueError`` (a
    usage error) for an unknown name."""
    from bnconform.adapters import device

    return device.normalize(name if name is not None else os.environ.get(device.ENV))


def _probe(name: str, device: str | None = None) -> dict:
    """Load ``name`` in a fresh interpreter (Keras fixes its backend at import, and a broken
    framework must not spoil this process): ``{"status", "detail"}``."""
    env = _child_env(TF_CPP_MIN_LOG_LEVEL="3")
    if name.startswith("keras-"):
        env["KERAS_BACKEND"] = name.removeprefix("keras-")
    proc = subprocess.run([sys.executable, "-c", _PROBE, name, *([device] if device else [])], env=env, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "BROKEN", "detail": f"{name}: the interpreter loading it exited {proc.returncode}: {tail}"}
    return json.loads(lines[-1])

def _known_deviation_lines(adapter, example, project: str | None = None) -> list[str]:
    """What the conformance run would decide for this failing example: the entries that cover its
    test tried in order until one explains it (:func:`bnconform.explanation.decide`), one line each.
    The entries in force are the shipped ones with the project's applied (``project``, else
    ./bnconform.toml or ./pyproject.toml); the test's identity is the results plugin's."""
    return _known_deviation_decision(adapter, example, project)[0]


def _known_deviation_decision(adapter, example, project: str | None = None):
    """:func:`_known_deviation_lines` and the decision (None when the file could not be read);
    ``example`` an :class:`bnconform.checks.Example` or an :class:`bnconform.explanation.Crash`."""
    from bnconform import adapters, explanation
    from bnconform.reports import known
    from bnconform.reports.deviations import DeviationsError, candidates
    from bnconform.reports.targets import kernels_for_dtype

    try:
        entries = known.load(project).entries
    except DeviationsError as e:
        return [f"known deviations: {e}"], None
    case = example.case
    path = adapters.kernels_of(adapter.name)
    identity = {**adapter.describe(), "target": adapter.name, "property": example.prop, "op": case.op,
                "kind": getattr(case, "kind", None), "mode": example.mode, "dtype": case.dtype,
                "device": adapter.device_record(),  # entries scoped to a device or a kernel path, as pytest
                "kernels": kernels_for_dtype(path, case.dtype) if path else None}
    decision = explanation.decide(example, candidates(entries, identity))
    lines = [f"known deviation {attempt.describe()}" for attempt in decision.attempts]
    if lines and decision.explained_by is None:
        lines.append("verdict: a NEW FAILURE (no entry that covers this test explains this example)")
    return lines or ["no known deviation covers this test"], decision


def cmd_targets(args) -> int:
    """Without ``--load``: what the installed distributions and module specs say (no import).
    With it: each target loaded in its own interpreter; exit 1 if any is installed but broken."""
    from bnconform import adapters

    try:
        infos = [adapters.get(name) for name in args.names] if args.names else adapters.discover()
    except ValueError as e:
        print(f"bnconform targets: {e}", file=sys.stderr)
        return USAGE
    broken = 0
    for info in infos:
        try:
            info.check_installed()
        except adapters.Unavailable as e:
            print(f"{info.name:18s} not installed: {str(e).removeprefix(info.name + ': ')}")
            continue
        except adapters.Broken as e:
            broken += 1
            print(f"{info.name:18s} BROKEN: {str(e).removeprefix(info.name + ': ')}")
            continue
        if not args.load:
            print(f"{info.name:18s} installed ({info.framework} {info.version()})")
            continue
        found = _probe(info.name)
        if found["status"] == "loads":
            versions = found["detail"] or {}
            text = f"loads ({info.framework} {versions.get('version')}"
            if versions.get("backend"):
                text += f", backend {versions['backend']} {versions.get('backend_version')}"
            if not _same(versions.get("version"), info.version()):
                broken += 1
                text += f"; VERSION MISMATCH: the distribution's metadata says {info.version()}"
            print(f"{info.name:18s} {text})")
        else:
            broken += found["status"] == "BROKEN"
            print(f"{info.name:18s} {found['status']}: {found['detail'].removeprefix(info.name + ': ')}")
    if not args.load:
        print("(judged without importing; `bnconform targets --load` imports each and names a broken one)")
    return 1 if broken else 0


def _same(imported: str | None, metadata: str | None) -> bool:
    from bnconform.reports.tested import same_version

    return imported is None or metadata is None or same_version(str(imported), str(metadata))


DEVICE_HELP = ("cpu (default) or cuda/gpu, the framework's accelerator (default: $BNCONFORM_DEVICE, else cpu); "
               "a device no installed framework sees is a usage error (exit 2)")


# Subcommands that are whole command lines of their own: the rest of argv goes to their main.
NESTED = {
    "report": ("bnconform.app.reports_cli", "main_report", "merge results into one HTML report (bnconform report -h)"),
    "gate": ("bnconform.app.reports_cli", "main_gate", "exit 0/1/2 on results and known deviations (bnconform gate -h)"),
    "cifar": ("bnconform.app.cifar_cli", "main", "CIFAR-10 accuracy regression (bnconform cifar -h)"),
    "blobs": ("bnconform.app.blobs_cli", "main", "the two-blob end-to-end check (bnconform blobs -h)"),
    "bisect": ("bnconform.app.bisect_cli", "main", "which release of a package changed a replay's verdict (bnconform bisect -h)"),
}


def _cores() -> int:
    """The CPU cores this process may run on (``sched_getaffinity``; ``os.cpu_count()`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in NESTED:
        import importlib

        module, function, _ = NESTED[argv[0]]
        return getattr(importlib.import_module(module), function)(argv[1:], prog=f"bnconform {argv[0]}")
    return dispatch(build_parser(), argv)


def build_parser() -> argparse.ArgumentParser:
    from bnconform import __version__

    parser = argparse.ArgumentParser(prog="bnconform", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"bnconform {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="the main job: conformance over every installed framework, report, gate")
    run.add_argument("--profile", default=os.environ.get("BNCONFORM_PROFILE", "ci"),
                     choices=("ci", "dev", "thorough"), help="Hypothesis profile (default: ci)")
    run.add_argument("--target", action="append", help="only these adapters (repeatable; default: all)")
    run.add_argument("--results", default="results", help="results directory (default: results/)")
    run.add_argument("--out", default="report", help="report directory (default: report/)")
    run.add_argument("--known-deviations", metavar="FILE", default=None,
                     help="the project's known deviations, applied to the shipped ones: entries added and "
                          "disable = [ids] (default: ./bnconform.toml, else ./pyproject.toml's [tool.bnconform])")
    run.add_argument("--name", default=os.environ.get("TOX_ENV_NAME", "local"), help="run name (default: local)")
    run.add_argument("-j", "--jobs", type=positive_int, default=_cores(),
                     help=f"runs (a framework family under one kernel configuration) at once (default: the "
                          f"cores this process may use, {_cores()} here)")
    run.add_argument("--kernels", action="append", metavar="NAME",
                     help="CPU kernel configurations to run each family under (repeatable): default (the path "
                          "this CPU picks), a name of bnconform/engines/kernels.py (" + ", ".join(
                              c.name for c in kernel_configs.CONFIGS) + "), or all (default and every "
                          "configuration of each family's engine); default: $BNCONFORM_KERNELS, else default")
    run.add_argument("--cifar", metavar="PROFILE", choices=("quick", "standard", "full", "gpu"),
                     help="also train the CIFAR-10 models of this profile (quick: about 10 min on 2 cores; "
                          "gpu: the lectures in full, 3 seeds, with --device cuda) on --device and gate "
                          "them on their baselines")
    run.add_argument("--blobs", action="store_true",
                     help="also train the two-blob networks (the CI matrix: about 2 min on 2 cores) and "
                          "check them against the Bayes-optimal accuracy")
    run.add_argument("--device", default=None, help=DEVICE_HELP)
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bars per family on stderr (default: on a terminal, not under CI=true)")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    run.set_defaults(func=cmd_run)
    rep = sub.add_parser("replay", help="re-run one example and print the comparison")
    rep.add_argument("target")
    rep.add_argument("property", help="a property of bnconform/properties.py, as the failure printed it")
    rep.add_argument("mode")
    rep.add_argument("case", help="the case JSON a failure printed")
    rep.add_argument("--device", default=None, help=DEVICE_HELP)
    rep.add_argument("--known-deviations", metavar="FILE", default=None,
                     help="the project's known deviations (default: ./bnconform.toml, else ./pyproject.toml's "
                          "[tool.bnconform])")
    rep.add_argument("--kernels", default=None, metavar="NAME",
                     help="the CPU kernel configuration to replay under (bnconform/engines/kernels.py; default: "
                          "$BNCONFORM_KERNELS, else default, this CPU's own path)")
    rep.add_argument("--json", action="store_true",
                     help="print one JSON object instead of the lines: verdict (pass, fail, error, broken or "
                          "usage), exit, lines, message, framework, version, heading")
    rep.set_defaults(func=cmd_replay)
    tg = sub.add_parser("targets", help="list the adapters and whether they are installed (--load: whether they load)")
    tg.add_argument("--load", action="store_true",
                    help="import each target in its own interpreter; exit 1 if one is installed but broken")
    tg.add_argument("names", nargs="*", metavar="TARGET", help="only these targets (default: all)")
    tg.set_defaults(func=cmd_targets)
    for name, (_, _, help_text) in NESTED.items():  # listed in -h; main() hands them their argv
        sub.add_parser(name, help=help_text, add_help=False)
    return parser
