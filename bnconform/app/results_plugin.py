"""pytest plugin: one results record per conformance test item, known deviations, JUnit XML.

Load it with ``pytest_plugins = ["bnconform.app.results_plugin"]`` in the root ``conftest.py``
(or ``-p bnconform.app.results_plugin``). It

- registers the ``bnconform(property=..., op=...)`` marker and the session-wide ``observe``
  fixture (see :mod:`bnconform.reports.observe`);
- turns every test item carrying the marker into a record (tests without it, such as the
  project's own unit tests, are not recorded);
- loads the known-deviations file and hands each test the entries that may explain its failing
  examples (``observe.known_deviations()``); a test whose failing examples were all explained by
  an entry's model (``observe.explained``) is reported as xfail (``known-deviation``), a test with
  any unexplained failing example fails;
- with ``--results DIR``, rewrites ``DIR/results.json`` atomically after every recorded item
  and writes ``DIR/junit.xml`` when the session ends.

Options: ``--results DIR``, ``--run-name NAME`` (default ``$TOX_ENV_NAME`` or ``local``),
``--known-deviations FILE`` (the project's own entries and the shipped ids it disables; default:
``bnconform.toml``, else ``pyproject.toml``'s ``[tool.bnconform]``, in the directory pytest was started
from: :mod:`bnconform.reports.known`), ``--no-shipped-deviations`` (leave out the shipped file).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from bnconform.reports.atomic import write_atomic
from bnconform.reports import known
from bnconform.reports.error_origin import origin_of
from bnconform.reports.deviations import Deviation, DeviationsError, candidates, entry_statuses
from bnconform.reports.environment import collect_environment
from bnconform.reports.junit import junit_xml
from bnconform.reports.observe import ItemObservation, Observer
from bnconform.reports.schema import SEVERITY, VERDICTS
from bnconform.reports.targets import describe, imported
from bnconform.reports.targets import device as device_of
from bnconform.reports.targets import kernels as kernels_of
from bnconform.reports.targets import kernels_for_dtype
from bnconform.reports.tested import declared_targets, error_groups, untested_targets, version_mismatches
from bnconform.reports.writer import ResultsFile

try:
    _ExceptionGroup = BaseExceptionGroup
except NameError:  # Python 3.10: the backport pytest itself depends on
    from exceptiongroup import BaseExceptionGroup as _ExceptionGroup

__all__ = ["ResultsPlugin"]

MARKER = "bnconform"
_MESSAGE_LIMIT = 20_000
_PLUGIN_NAME = "bnconform-results"
_plugin_key = pytest.StashKey["ResultsPlugin"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bnconform", "bnconform results")
    group.addoption("--results", metavar="DIR", default=None,
                    help="write results.json (after every test) and junit.xml (at the end) to DIR")
    group.addoption("--run-name", metavar="NAME", default=None,
                    help="name of this run in the results (default: $TOX_ENV_NAME or 'local')")
    group.addoption("--known-deviations", metavar="FILE", default=None,
                    help="the project's known deviations: entries added to the shipped ones, and "
                         "disable = [ids] of shipped ones (default: ./bnconform.toml, else ./pyproject.toml's "
                         "[tool.bnconform], if any)")
    group.addoption("--no-shipped-deviations", action="store_true", default=False,
                    help="leave out the known deviations that ship with bnconform (only the project's apply)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(property, op, kind=None): a conformance property (kind: the pooling kind); recorded in the results file "
        "(parametrize the test with target, mode and dtype)")
    plugin = ResultsPlugin(config)
    config.stash[_plugin_key] = plugin
    config.pluginmanager.register(plugin, _PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.stash.get(_plugin_key, None)
    if plugin is not None:
        config.pluginmanager.unregister(plugin)
        del config.stash[_plugin_key]


@pytest.fixture(scope="session")
def observe(pytestconfig: pytest.Config) -> Observer:
    """Report examples, failing cases, CIFAR records, drift outputs and fingerprints."""
    return pytestconfig.stash[_plugin_key].observer


def _known_deviations(config: pytest.Config) -> known.KnownDeviations:
    """The shipped entries with the project's applied (``--known-deviations``, else the project file
    of the directory pytest was started from)."""
    given = config.getoption("known_deviations")
    return known.load(Path(config.invocation_params.dir) / given if given else None,
                      directory=config.invocation_params.dir,
                      shipped=None if config.getoption("no_shipped_deviations") else known.SHIPPED)


def _is_assertion(exc: BaseException) -> bool:
    """An AssertionError or ``pytest.fail()``, or a group (Hypothesis: several distinct bugs)
    of only those: the property did not hold. Anything else means the test could not check it."""
    if isinstance(exc, (AssertionError, pytest.fail.Exception)):
        return True
    if isinstance(exc, _ExceptionGroup):
        return all(_is_assertion(sub) for sub in exc.exceptions)
    return False


def _describe_exception(excinfo: pytest.ExceptionInfo) -> str:
    import traceback

    def lines(exc: BaseException, indent: str) -> list[str]:
        own = [indent + line for chunk in traceback.format_exception_only(exc) for line in chunk.rstrip("\n").split("\n")]
        if isinstance(exc, _ExceptionGroup):
            for number, sub in enumerate(exc.exceptions, start=1):
                own.append(f"{indent}[{number}]")
                own.extend(lines(sub, indent + "    "))
        return own

    text = "\n".join(lines(excinfo.value, ""))
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "\n... (truncated)"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


class _ItemState:
    """Bookkeeping for the item that is running."""

    def __init__(self, identity: dict[str, Any], observation: ItemObservation):
        self.identity = identity
        self.observation = observation
        self.verdict = "pass"
        self.reason: str | None = None
        self.message: str | None = None
        self.deviations: list[Deviation] = []
        self.duration = 0.0
        self.origin: tuple[str, str] | None = None  # error records: who raised (reports.error_origin)

    def escalate(self, verdict: str, message: str | None = None, reason: str | None = None) -> None:
        # later phases (teardown) may only make things worse, never hide a failure
        if self.verdict == "pass" or SEVERITY[verdict] > SEVERITY[self.verdict]:
            self.verdict = verdict
            if message is not None:
                self.message = message
            if reason is not None:
                self.reason = reason


class ResultsPlugin:
    """Per-session state of the results plugin (registered as ``bnconform-results``)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        try:
            self.known = _known_deviations(config)
            self.deviations: list[Deviation] = self.known.entries
        except DeviationsError as exc:
            raise pytest.UsageError(f"known deviations: {exc}") from None
        results_dir = config.getoption("results")
        self.results_dir = Path(results_dir) if results_dir else None
        self.run_name = config.getoption("run_name") or os.environ.get("TOX_ENV_NAME") or "local"
        self.results: ResultsFile | None = None
        self.observer: Observer | None = None
        self._state: _ItemState | None = None
        self._dirty = False

    # -- session ----------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        path = None
        environment: dict[str, Any] = {}
        if self.results_dir is not None:
            try:
                self.results_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise pytest.UsageError(f"--results {self.results_dir}: cannot create directory: {exc}") from None
            path = self.results_dir / "results.json"
            environment = collect_environment()
        args = " ".join(shlex.quote(str(a)) for a in self.config.invocation_params.args)
        run = {"name": self.run_name, "profile": None, "kernels": {"asked": _asked_kernels()},
               "command": f"{Path(sys.executable).name} -m pytest {args}".rstrip(),
               "known_deviations": self.known.describe()}
        self.results = ResultsFile(path, run, environment)
        self.observer = Observer(self.results, self._mark_dirty, describe)
        self.results.flush()

    def _mark_dirty(self) -> None:
        self._dirty = True

    def declare_targets(self, targets) -> None:
        """Record the targets this run was asked for (``run.targets``; the conformance conftest
        calls this with ``--target`` / ``BNCONFORM_TARGETS``). The gate fails a run none of whose
        declared targets was tested, and warns about each declared target left untested."""
        if self.results is not None:
            self.results.run["targets"] = [str(t) for t in targets]
            self._dirty = True

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items) -> None:
        """Count the marked items selected to run: a run with fewer records did not complete."""
        self._expected = sum(item.get_closest_marker("bnconform") is not None for item in items)
        if self.results is not None:
            self.results.run["expected_records"] = self._expected

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and self.results is not None:
            self.results.add_collection_error(report.nodeid, report.longreprtext[:_MESSAGE_LIMIT])
            self._dirty = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.results is None:
            return
        self.results.run["profile"] = _hypothesis_profile()
        stopped = None
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            stopped = "interrupted"
        elif exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            stopped = "internal error"
        elif session.shouldfail:
            stopped = f"stopped early: {session.shouldfail}"
        elif session.shouldstop:
            stopped = f"stopped early: {session.shouldstop}"
        recorded, expected = len(self.results.records), getattr(self, "_expected", None)
        if stopped is None and expected is not None and recorded < expected:
            stopped = f"only {recorded} of the {expected} selected tests recorded"
        self.results.finish(complete=stopped is None, stopped=stopped)
        if self.results_dir is not None:
            write_atomic(self.results_dir / "junit.xml", junit_xml(self.results.run, self.results.records))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.results is None:
            return
        records = self.results.records
        if not records and self.results_dir is None:
            return
        counts = {v: sum(r["verdict"] == v for r in records) for v in VERDICTS}
        summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no records"
        terminalreporter.section("bnconform results", sep="-")
        where = f" -> {self.results_dir / 'results.json'}" if self.results_dir is not None else ""
        terminalreporter.write_line(f"run {self.run_name}: {summary}{where}")
        for group in error_groups(records):
            terminalreporter.write_line(f"ERRORS {group.describe()}", red=True)
        for mismatch in version_mismatches(records):
            terminalreporter.write_line(f"VERSION MISMATCH {mismatch.describe()}", red=True)
        targets, explicit = declared_targets(self.results.run, records)
        untested = untested_targets(targets, records)
        if untested and len(untested) == len(targets):
            terminalreporter.write_line(
                f"NOTHING TESTED: none of the {'declared ' if explicit else ''}targets was tested: "
                + "; ".join(u.describe() for u in untested), red=True)
        elif explicit:
            for item in untested:
                terminalreporter.write_line(f"NOT TESTED declared target {item.describe()}", yellow=True)
        for status in entry_statuses(self.deviations, records):
            if status.status == "active":
                terminalreporter.write_line(
                    f"known deviation {status.deviation.id} ({status.deviation.model_text}): explained "
                    f"{status.examples} example(s) in {status.tests} test(s)")
            if status.status in ("stale", "unused"):
                terminalreporter.write_line(
                    f"{status.status.upper()} known deviation {status.deviation.label}: "
                    + ("no tested version is in its range (tested: "
                       f"{', '.join(status.tested_versions)})" if status.status == "stale"
                       else "matches no test of a tested version"), yellow=True)

    # -- items ------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        marker = item.get_closest_marker(MARKER)
        if marker is None or self.observer is None:
            if self.observer is not None:
                self.observer._begin()  # observe.example() in an unmarked test is harmless
            try:
                return (yield)
            finally:
                if self.observer is not None:
                    self.observer._end()
                self._flush_if_dirty()
        identity = self._identity(item, marker)
        self._state = _ItemState(identity, self.observer._begin(candidates(self.deviations, identity)))
        try:
            return (yield)
        finally:
            self.observer._end()
            state, self._state = self._state, None
            self.results.add_record(self._record(item, state))
            self._dirty = True
            self._flush_if_dirty()

    def _flush_if_dirty(self) -> None:
        if self._dirty and self.results is not None:
            self._dirty = False
            self.results.flush()

    def _identity(self, item: pytest.Item, marker: pytest.Mark) -> dict[str, Any]:
        params = getattr(getattr(item, "callspec", None), "params", {})
        target = params.get("target")
        target = None if target is None else str(target)
        who = describe(target) if target is not None else {}
        mode = params.get("mode")
        dtype = params.get("dtype")
        return {
            "property": str(marker.kwargs.get("property") or getattr(item, "originalname", item.name)),
            "target": target,
            "framework": who.get("framework"),
            "version": who.get("version"),
            "backend": who.get("backend"),
            "backend_version": who.get("backend_version"),
            "op": None if marker.kwargs.get("op") is None else str(marker.kwargs["op"]),
            "kind": None if marker.kwargs.get("kind") is None else str(marker.kwargs["kind"]),
            "mode": "-" if mode is None else str(mode),
            "dtype": None if dtype is None else str(getattr(dtype, "name", dtype)),
            # where it will run (the device asked for, until its adapter is placed): an entry
            # naming a device covers the tests run there only
            "device": _device(target),
            # the CPU kernel path its engine measured (bnconform.engines.kernels): an entry naming one
            # covers the tests run on that path only
            "kernels": self._kernels(target, None if dtype is None else str(getattr(dtype, "name", dtype))),
        }

    def _kernels(self, target: str | None, dtype: str | None) -> str | None:
        """The kernel path ``target``'s engine measured for ``dtype`` (its configuration's name; a
        dtype the configuration does not serve on this CPU takes its fallback: ``path["dtypes"]``),
        noted per engine in ``run.kernels`` the first time; None where the engine declares none."""
        path = kernels_of(target)
        if path is None:
            return None
        engines = self.results.run.setdefault("kernels", {"asked": _asked_kernels()}).setdefault("engines", {})
        if path.get("engine") not in engines:
            engines[str(path.get("engine"))] = path
            self._dirty = True
        return kernels_for_dtype(path, dtype)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report: pytest.TestReport = yield
        state = self._state
        if state is None or item.get_closest_marker(MARKER) is None:
            return report
        state.duration += report.duration
        xfail_reason = getattr(report, "wasxfail", None)
        if report.when == "call":
            self._judge_call(state, report, call, xfail_reason)
        elif report.skipped:  # setup: skip marks, pytest.skip() in fixtures, xfail(run=False)
            if xfail_reason is not None:
                state.escalate("known-deviation", reason=xfail_reason)
            else:
                state.verdict, state.reason = "skip", _skip_reason(report)
        elif report.failed:  # setup or teardown raised
            message = _describe_exception(call.excinfo) if call.excinfo else report.longreprtext
            state.escalate("error", message=f"{report.when} failed: {message}")
            if call.excinfo is not None and state.verdict == "error" and state.origin is None:
                state.origin = origin_of(call.excinfo.value)
        return report

    def _judge_call(self, state: _ItemState, report: pytest.TestReport, call: pytest.CallInfo,
                    xfail_reason: str | None) -> None:
        if report.skipped and xfail_reason is not None:  # pytest's own xfail mark
            state.escalate("known-deviation", reason=xfail_reason or "xfail",
                           message=_describe_exception(call.excinfo) if call.excinfo else None)
            return
        if report.skipped:  # pytest.skip() inside the test
            state.verdict, state.reason = "skip", _skip_reason(report)
            return
        if report.passed:
            if xfail_reason is not None:  # non-strict XPASS
                state.escalate("fixed-deviation", reason=xfail_reason)
                return
            explained = state.observation.explained
            if explained:  # every failing example was explained by a model: xfail for pytest
                by_id = {d.id: d for d in state.observation.candidates}
                state.deviations = [by_id[i] for i in explained if i in by_id]
                crashes = state.observation.explained_crashes  # examples that raised, predicted by a crash model
                summary = ", ".join(f"{i} ({n} example{'s' if n != 1 else ''}"
                                    + (f"; crash {crashes[i]}" if i in crashes else "") + ")"
                                    for i, n in explained.items())
                state.escalate("known-deviation", reason=state.deviations[0].reason if state.deviations else None)
                report.outcome = "skipped"
                report.wasxfail = f"known deviation {summary}"
            return
        # failed
        if call.excinfo is None:  # strict XPASS
            state.escalate("fail", message=report.longreprtext)
            return
        message = _describe_exception(call.excinfo)
        if not _is_assertion(call.excinfo.value):
            state.escalate("error", message=message)
            if state.origin is None:
                state.origin = origin_of(call.excinfo.value)
            return
        state.escalate("fail", message=message)  # an example no model explains: a new failure

    def _record(self, item: pytest.Item, state: _ItemState) -> dict[str, Any]:
        obs = state.observation
        target = state.identity.get("target")
        loaded = imported(target) if target is not None else None
        # what the process imported (the modules' __version__) beside the metadata's version; only
        # for targets the adapters package knows (absent: nothing to say, null: nothing imported)
        versions = {} if loaded is None else {"imported_version": loaded["version"],
                                               "imported_backend_version": loaded["backend_version"]}
        explaining = [d.as_dict() for d in state.deviations]
        if not explaining and obs.explained:  # explained examples in a failed test: name their entries
            by_id = {d.id: d for d in obs.candidates}
            explaining = [by_id[i].as_dict() for i in obs.explained if i in by_id]
        return {
            "id": item.nodeid,
            **state.identity,
            **versions,
            "device": _device(target),
            "kernels": state.identity.get("kernels"),
            "verdict": state.verdict,
            "reason": state.reason,
            "examples": obs.examples,
            "max_abs_error": obs.max_abs_error,
            "max_rel_error": obs.max_rel_error,
            "max_ulp_error": obs.max_ulp_error,
            "max_tol_ratio": obs.max_tol_ratio,
            "max_stat_ratio": obs.max_stat_ratio,
            "example": obs.example,
            "message": state.message,
            # an error's origin: "framework" (raised in the framework), "suite" (bnconform's own code),
            # "other"; null for other verdicts (bnconform.reports.error_origin)
            "error_origin": state.origin[0] if state.verdict == "error" and state.origin else None,
            "raised_in": state.origin[1] if state.verdict == "error" and state.origin else None,
            "replay": obs.replay,
            "unsupported": dict(obs.unsupported),
            "duration_s": round(state.duration, 6),
            "explained": dict(obs.explained),
            "explained_max_tol_ratio": dict(obs.explained_max_tol_ratio),
            # entry id -> the exception line of a crash its crash model explained (bnconform.models)
            "explained_crashes": dict(obs.explained_crashes),
            "deviations": explaining,
            "deviation": explaining[0] if explaining else None,
        }


def _device(target: str | None) -> dict[str, Any]:
    """Where the record's target ran (:func:`bnconform.reports.targets.device`)."""
    return device_of(target)


def _asked_kernels() -> str:
    """The kernel configuration this process was asked for (``--kernels``, ``$BNCONFORM_KERNELS``)."""
    from bnconform.engines import kernels

    return os.environ.get(kernels.ENV) or kernels.DEFAULT


def _hypothesis_profile() -> str | None:
    module = sys.modules.get("hypothesis")
    if module is None:
        return None
    try:
        return module.settings.get_current_profile_name()
    except Exception:  # noqa: BLE001 - older Hypothesis
        return getattr(module.settings, "_current_profile", None)
