"""The results plugin, exercised on tiny fake conformance suites run through pytester."""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET

import numpy  # noqa: F401 - load NumPy in this process before pytester's in-process runs: it
import pytest  # cannot be imported a second time after pytester drops the modules a run loaded

from .conftest import REPO

PLUGIN = ("-p", "bnconform.app.results_plugin")

SUITE = '''
import pytest

def params(*targets, mode="train", dtype="float32"):
    return pytest.mark.parametrize("target, mode, dtype", [(t, mode, dtype) for t in targets])

@pytest.mark.bnconform(property="bn_forward", op="batch_norm")
@params("alpha")
def test_passes(target, mode, dtype, observe):
    observe.example({"max_abs": 1e-7, "max_rel": 4e-7, "max_ulp": 2, "max_ratio": 0.25, "n_mismatch": 0})
    observe.example({"max_abs": 3e-7, "max_rel": 1e-7, "max_ulp": 1, "max_ratio": 0.5, "stat_ratio": 0.125})
    observe.example({"max_abs": 2e-7, "stat_ratio": 0.0625})

@pytest.mark.bnconform(property="bn_forward", op="batch_norm")
@params("beta")
def test_fails(target, mode, dtype, observe):
    observe.example({"max_abs": 0.5, "max_ratio": 7.0, "max_ulp": 9})
    observe.failing_case({"op": "batch_norm", "seed": 3}, "python -m bnconform replay beta first")
    observe.failing_case({"op": "batch_norm", "seed": 0}, "python -m bnconform replay beta shrunk")
    assert False, "<script>alert('x')</script> 1 of 4 elements outside tolerance"

@pytest.mark.bnconform(property="conv2d_forward", op="conv2d")
@params("alpha", mode="-")
def test_errors(target, mode, dtype, observe):
    raise ValueError("adapter exploded")

@pytest.mark.bnconform(property="max_pool_forward", op="pool2d", kind="max")
@params("alpha", mode="-", dtype="bfloat16")
def test_skips(target, mode, dtype, observe):
    pytest.skip("alpha offers no bfloat16 pooling")

def test_project_unit_test_is_not_recorded():
    pass
'''


def results_of(pytester) -> dict:
    return json.loads((pytester.path / "out" / "results.json").read_text())


def by_property(doc) -> dict:
    return {r["id"].split("::")[1].split("[")[0]: r for r in doc["records"]}


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def test_one_record_per_marked_item_with_verdicts_and_errors(suite):
    result = suite.runpytest(*PLUGIN, "--results", "out", "--run-name", "fake1")
    result.assert_outcomes(passed=2, failed=2, skipped=1)
    doc = results_of(suite)
    assert doc["schema"] == "bnconform-results/1"
    assert doc["run"]["name"] == "fake1" and doc["run"]["complete"] is True and doc["run"]["finished"]
    records = by_property(doc)
    assert set(records) == {"test_passes", "test_fails", "test_errors", "test_skips"}

    passed = records["test_passes"]
    assert (passed["verdict"], passed["property"], passed["op"], passed["target"]) == (
        "pass", "bn_forward", "batch_norm", "alpha")
    assert (passed["mode"], passed["dtype"], passed["examples"]) == ("train", "float32", 3)
    # maxima over the three examples; a measure no example reported stays null
    assert (passed["max_abs_error"], passed["max_rel_error"]) == (3e-7, 4e-7)
    assert (passed["max_ulp_error"], passed["max_tol_ratio"], passed["max_stat_ratio"]) == (2.0, 0.5, 0.125)
    assert passed["example"] is None and passed["replay"] is None and passed["duration_s"] >= 0
    assert (passed["framework"], passed["version"]) == ("alpha", None)  # fallback for unknown targets

    failed = records["test_fails"]
    assert failed["verdict"] == "fail"
    assert failed["example"] == {"op": "batch_norm", "seed": 0}  # the last failing case wins
    assert failed["replay"] == "python -m bnconform replay beta shrunk"
    assert failed["message"].startswith("AssertionError: <script>alert('x')</script> 1 of 4 elements")
    assert (failed["max_tol_ratio"], failed["max_ulp_error"]) == (7.0, 9.0)
    assert failed["max_stat_ratio"] is None  # no example reported the statistical tier

    errored = records["test_errors"]
    assert errored["verdict"] == "error" and errored["message"] == "ValueError: adapter exploded"
    assert errored["mode"] == "-"

    skipped = records["test_skips"]
    assert (skipped["verdict"], skipped["reason"]) == ("skip", "alpha offers no bfloat16 pooling")
    assert skipped["examples"] == 0


def test_junit_xml_mirrors_the_records(suite):
    suite.runpytest(*PLUGIN, "--results", "out")
    root = ET.parse(suite.path / "out" / "junit.xml").getroot()
    (testsuite,) = root
    assert {k: testsuite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "4", "failures": "1", "errors": "1", "skipped": "1"}
    cases = {case.get("name"): case for case in testsuite}
    failure = cases["test_fails[beta-train-float32]"].find("failure")
    assert "<script>" in failure.text  # XML-escaped on disk, text after parsing
    assert "replay: python -m bnconform replay beta shrunk" in failure.text
    assert cases["test_errors[alpha---float32]"].find("error") is not None
    properties = {p.get("name"): p.get("value") for p in cases["test_passes[alpha-train-float32]"].iter("property")}
    assert properties["verdict"] == "pass" and properties["max_tol_ratio"] == "0.5"


def test_no_results_option_writes_nothing(suite):
    suite.runpytest(*PLUGIN)
    assert not (suite.path / "out").exists()


def test_run_name_defaults_to_the_tox_environment(suite, monkeypatch):
    monkeypatch.setenv("TOX_ENV_NAME", "torch213")
    suite.runpytest(*PLUGIN, "--results", "out")
    assert results_of(suite)["run"]["name"] == "torch213"


def test_environment_is_recorded(suite):
    suite.runpytest(*PLUGIN, "--results", "out")
    env = results_of(suite)["environment"]
    import platform

    assert env["python"] == platform.python_version()
    assert f"pytest=={pytest.__version__}" in env["pip_freeze"]
    assert env["frameworks"]["hypothesis"]  # a dependency of the project, so always installed


KNOWN = '''
# entries for the fake suite below (target torch: a real adapter name, so the record has a version)
[[deviation]]
id = "torch-rounds-twice"
target = "torch"
framework = "torch"
versions = ">=0,<999"
property = "bn_forward"
model = "one_pass_variance"
reason = "rounds twice"
link = "https://example.org/torch/1"

[[deviation]]
id = "torch-other"
target = "torch"
framework = "torch"
versions = ">=0,<999"
property = "bn_forward"
mode = "train"
model = "float32_compute"
reason = "another model"
link = "https://example.org/torch/2"
'''

KNOWN_SUITE = '''
import pytest

def params(mode):
    return pytest.mark.parametrize("target, mode, dtype", [("torch", mode, "float32")])

@pytest.mark.bnconform(property="bn_forward", op="batch_norm")
@params("train")
def test_explained(target, mode, dtype, observe):
    entries = observe.known_deviations()
    assert [e.id for e in entries] == ["torch-rounds-twice", "torch-other"]
    observe.example({"max_ratio": 7.0})
    observe.explained("torch-rounds-twice", {"max_ratio": 0.25})
    observe.example({"max_ratio": 9.0})
    observe.explained("torch-rounds-twice", {"max_ratio": 0.5})
    observe.example({"max_ratio": 0.1})

@pytest.mark.bnconform(property="bn_forward", op="batch_norm")
@params("inference")
def test_explained_then_a_new_bug(target, mode, dtype, observe):
    assert [e.id for e in observe.known_deviations()] == ["torch-rounds-twice"]
    observe.explained("torch-rounds-twice", {"max_ratio": 0.5})
    assert False, "a second, different bug"

@pytest.mark.bnconform(property="bn_backward", op="batch_norm")
@params("train")
def test_no_entry_matches(target, mode, dtype, observe):
    assert observe.known_deviations() == []
'''


def test_explained_examples_make_an_xfail_and_an_unexplained_one_a_failure(pytester):
    pytester.makepyfile(test_known=KNOWN_SUITE)
    (pytester.path / "kd.toml").write_text(KNOWN)
    result = pytester.runpytest(*PLUGIN, "--results", "out", "--known-deviations", "kd.toml", "-rxX")
    result.assert_outcomes(passed=1, failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*XFAIL*test_explained*known deviation torch-rounds-twice (2 examples)*"])
    result.stdout.fnmatch_lines(["*known deviation torch-rounds-twice (one_pass_variance()): explained 3 example(s) "
                                 "in 2 test(s)*"])
    records = by_property(results_of(pytester))
    known = records["test_explained"]
    assert known["verdict"] == "known-deviation" and known["reason"] == "rounds twice"
    assert known["explained"] == {"torch-rounds-twice": 2}
    assert known["explained_max_tol_ratio"] == {"torch-rounds-twice": 0.5}
    assert known["max_tol_ratio"] == 9.0  # the reference comparison: how far from the reference
    assert [d["id"] for d in known["deviations"]] == ["torch-rounds-twice"]
    assert known["deviation"]["link"] == "https://example.org/torch/1"
    assert known["deviation"]["model"] == "one_pass_variance"
    failed = records["test_explained_then_a_new_bug"]
    assert failed["verdict"] == "fail" and "a second, different bug" in failed["message"]
    assert failed["explained"] == {"torch-rounds-twice": 1}
    assert records["test_no_entry_matches"]["verdict"] == "pass"


@pytest.mark.parametrize("where", ["bnconform.toml", "pyproject.toml"])
def test_the_project_file_of_the_invocation_directory_is_the_default(pytester, where):
    """Without --known-deviations, ./bnconform.toml, else ./pyproject.toml's [tool.bnconform], adds its
    entries to the shipped ones; the run names both sources."""
    pytester.makepyfile(test_known=KNOWN_SUITE)
    text = KNOWN if where == "bnconform.toml" else (
        "[project]\nname = 'mine'\n\n[tool.bnconform]\n" + KNOWN.replace("[[deviation]]", "[[tool.bnconform.deviation]]"))
    (pytester.path / where).write_text(text)
    pytester.runpytest(*PLUGIN, "--results", "out")
    doc = json.loads((pytester.path / "out" / "results.json").read_text())
    assert by_property(results_of(pytester))["test_explained"]["verdict"] == "known-deviation"
    assert doc["run"]["known_deviations"].startswith("shipped ") and doc["run"]["known_deviations"].endswith(f"{where} (2 added)")
    (pytester.path / where).unlink()
    pytester.runpytest(*PLUGIN, "--results", "out")
    assert by_property(results_of(pytester))["test_explained"]["verdict"] == "fail"  # nothing explains it now


def test_a_bad_deviations_file_stops_the_run_naming_it(suite):
    (suite.path / "kd.toml").write_text(KNOWN.replace("versions", "verions", 1))
    result = suite.runpytest(*PLUGIN, "--known-deviations", "kd.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*kd.toml:3: deviation #1 (id torch-rounds-twice): unknown key(s) verions*"])
    (suite.path / "kd.toml").write_text(KNOWN.replace("float32_compute", "float32_computed"))
    result = suite.runpytest(*PLUGIN, "--known-deviations", "kd.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*kd.toml:13: deviation #2 (id torch-other): unknown model 'float32_computed'*"])


def test_hypothesis_groups_of_assertions_are_failures_and_fixture_errors_are_errors(pytester):
    pytester.makepyfile(test_more='''
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("no device")

@pytest.mark.bnconform(property="p", op="batch_norm")
@pytest.mark.parametrize("target", ["alpha"])
def test_group(target, observe):
    raise ExceptionGroup("two bugs", [AssertionError("a"), AssertionError("b")])

@pytest.mark.bnconform(property="q", op="batch_norm")
@pytest.mark.parametrize("target", ["alpha"])
def test_mixed_group(target, observe):
    raise ExceptionGroup("two bugs", [AssertionError("a"), KeyError("b")])

@pytest.mark.bnconform(property="r", op="batch_norm")
@pytest.mark.parametrize("target", ["alpha"])
def test_setup_error(target, broken, observe):
    pass

@pytest.mark.bnconform(property="s", op="batch_norm")
@pytest.mark.parametrize("target", ["alpha"])
def test_explicit_fail(target, observe):
    pytest.fail("property violated")
''')
    pytester.runpytest(*PLUGIN, "--results", "out")
    records = {r["property"]: r for r in results_of(pytester)["records"]}
    assert records["p"]["verdict"] == "fail"
    assert "[1]" in records["p"]["message"] and "AssertionError: b" in records["p"]["message"]
    assert records["q"]["verdict"] == "error"
    assert records["r"]["verdict"] == "error"
    assert "setup failed" in records["r"]["message"] and "no device" in records["r"]["message"]
    assert records["s"]["verdict"] == "fail" and "property violated" in records["s"]["message"]


def test_run_level_observations(pytester):
    pytester.makepyfile(test_observations_run='''
import math
import numpy as np
import pytest

@pytest.mark.bnconform(property="fp", op="batch_norm")
@pytest.mark.parametrize("target", ["alpha"])
def test_observations(target, observe):
    observe.fingerprint("alpha", {"probes": {"momentum_meaning": {"value": "torch", "evidence": "e"}}})
    observe.cifar({"target": "alpha", "arch": "A", "bn": True, "test_accuracy": 0.7, "verdict": "pass"})
    observe.drift("alpha", "conv2d", {"seed": 0}, np.array([1.5, math.inf, math.nan], np.float32), "float32")
''')
    pytester.runpytest(*PLUGIN, "--results", "out").assert_outcomes(passed=1)
    doc = results_of(pytester)
    assert doc["fingerprints"]["alpha"]["probes"]["momentum_meaning"]["value"] == "torch"
    assert doc["fingerprints"]["alpha"]["framework"] == "alpha"  # filled in from describe()
    assert doc["cifar"] == [{"target": "alpha", "arch": "A", "bn": True, "test_accuracy": 0.7, "verdict": "pass"}]
    assert doc["drift"] == [{"target": "alpha", "op": "conv2d", "case": {"seed": 0},
                             "output": [1.5, "inf", "nan"], "dtype": "float32"}]


def test_observe_in_an_unmarked_test_is_harmless(pytester):
    pytester.makepyfile(test_unmarked_observe='''
def test_x(observe):
    observe.example({"max_abs": 1.0})
    observe.failing_case({"seed": 1}, "replay")
''')
    pytester.runpytest(*PLUGIN, "--results", "out").assert_outcomes(passed=1)
    assert results_of(pytester)["records"] == []


def test_a_killed_run_leaves_the_last_complete_file(pytester, monkeypatch):
    """A framework that takes the process down mid-run: the earlier records survive."""
    pytester.makepyfile(test_killed='''
import os
import pytest

@pytest.mark.bnconform(property="p", op="batch_norm")
@pytest.mark.parametrize("target", ["a1", "a2", "crash", "a3"])
def test_item(target, observe):
    observe.example({"max_abs": 0.0})
    if target == "crash":
        os._exit(139)
''')
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    result = pytester.runpytest_subprocess(*PLUGIN, "--results", "out", "-p", "no:cacheprovider")
    assert result.ret == 139
    placeholder = results_of(pytester)  # valid JSON, or this raises: the incomplete run, pointing to its journal
    assert placeholder["run"]["complete"] is False and placeholder["run"]["journal"] == "results.jsonl"
    from bnconform.reports.schema import load_results

    doc = load_results(pytester.path / "out")  # the records so far, from the journal
    assert [r["target"] for r in doc["records"]] == ["a1", "a2"]
    assert doc["run"]["complete"] is False and doc["run"]["finished"] is None
    assert "journal" not in doc["run"]
    assert not (pytester.path / "out" / "junit.xml").exists()
    assert sorted(p.name for p in (pytester.path / "out").iterdir()) == ["results.json", "results.jsonl"]


def test_a_finished_run_leaves_one_consolidated_file_without_a_journal(suite):
    suite.runpytest(*PLUGIN, "--results", "out", "-x")  # stopped early: incomplete, but finished
    doc = results_of(suite)
    assert doc["run"]["complete"] is False and "journal" not in doc["run"] and len(doc["records"]) == 2
    assert sorted(p.name for p in (suite.path / "out").iterdir()) == ["junit.xml", "results.json"]


def test_stopping_early_marks_the_run_incomplete(suite):
    suite.runpytest(*PLUGIN, "--results", "out", "-x")
    run = results_of(suite)["run"]
    assert run["complete"] is False and run["stopped"].startswith("stopped early")


def test_collection_errors_are_recorded(pytester):
    pytester.makepyfile(test_broken="import framework_that_is_not_there\n")
    pytester.runpytest(*PLUGIN, "--results", "out")
    (error,) = results_of(pytester)["run"]["collection_errors"]
    assert error["id"] == "test_broken.py" and "framework_that_is_not_there" in error["message"]


def test_non_finite_errors_are_strict_json(pytester):
    pytester.makepyfile(test_nan='''
import math, pytest

@pytest.mark.bnconform(property="p", op="batch_norm")
@pytest.mark.parametrize("target", ["alpha"])
def test_nan(target, observe):
    observe.example({"max_abs": math.inf, "max_ulp": math.nan})
    observe.example({"max_abs": 1.0, "max_ulp": 5.0})
''')
    pytester.runpytest(*PLUGIN, "--results", "out")
    text = (pytester.path / "out" / "results.json").read_text()
    record = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON token {c}"))["records"][0]
    # NaN dominates a later finite value: an example that produced NaN is never hidden
    assert (record["max_abs_error"], record["max_ulp_error"]) == ("inf", "nan")
    assert math.isinf(float(record["max_abs_error"]))


def test_unsupported_examples_are_counted_by_reason_and_shown(pytester, tmp_path):
    """Examples a framework refuses do not vanish: the record counts them by reason, and the
    report's cell details show them (escaped)."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.bnconform(property="conv2d", op="conv2d")
        @pytest.mark.parametrize("target", ["fw"])
        def test_x(target, observe):
            observe.unsupported("no <float16> here")
            observe.unsupported("no <float16> here")
            observe.example({"max_ratio": 0.1})
        """
    )
    out = tmp_path / "res"
    pytester.runpytest("-p", "bnconform.app.results_plugin", "--results", str(out)).assert_outcomes(passed=1)
    import json

    record = json.loads((out / "results.json").read_text())["records"][0]
    assert record["unsupported"] == {"no <float16> here": 2}

    from bnconform.app.reports_cli import main_report

    assert main_report([str(out), "-o", str(tmp_path / "page"), "--no-known-deviations"]) == 0
    page = (tmp_path / "page" / "index.html").read_text()
    assert "2 example(s) not run: no &lt;float16&gt; here" in page


def test_a_run_with_fewer_records_than_selected_tests_is_incomplete(pytester, tmp_path):
    """A selected test that never runs (here the run loop stops after the first, without pytest
    knowing) leaves the run incomplete, whatever pytest's exit status, so the gate cannot pass a
    partial run."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtestloop(session):
            first = session.items[0]
            first.config.hook.pytest_runtest_protocol(item=first, nextitem=None)
            return True
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.bnconform(property="p", op="conv2d")
        def test_kept(observe):
            observe.example({"max_ratio": 0.1})

        @pytest.mark.bnconform(property="p", op="conv2d")
        def test_lost(observe):
            observe.example({"max_ratio": 0.1})
        """
    )
    out = tmp_path / "res"
    pytester.runpytest("-p", "bnconform.app.results_plugin", "--results", str(out))
    import json

    run = json.loads((out / "results.json").read_text())["run"]
    assert run["complete"] is False
    assert run["stopped"] == "only 1 of the 2 selected tests recorded"
    assert run["expected_records"] == 2
