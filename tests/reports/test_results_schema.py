"""The JSON Schema of results files, and the journal a run appends to while it goes on.

Valid: every results fixture of these tests, the demo runs and a file the writer has just written.
Invalid: each malformed document below is refused with the file's path, the JSON path and the problem.
"""

from __future__ import annotations

import json
import math

import pytest
from jsonschema import Draft202012Validator

from bnconform.app.reports_cli import main_gate
from bnconform.reports.schema import SCHEMA_FILE, ResultsError, load_results
from bnconform.reports.writer import ResultsFile, journal_path

from .conftest import REPO, explained_record, make_doc, make_record
from .demo import write_demo
from .test_blobs_results import blob


def test_the_published_schema_is_the_one_the_loader_uses_and_is_valid_2020_12():
    published = json.loads((REPO / "docs" / "results.schema.json").read_text(encoding="utf-8"))
    assert published == json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(published)


@pytest.mark.parametrize("doc", [
    make_doc("plain", [make_record()]),
    make_doc("old", [{"id": "t::x", "verdict": "pass"}]),  # a record with nothing but the two required fields
    make_doc("explained", [explained_record(), make_record(verdict="fail", max_tol_ratio="inf", examples=3)]),
    make_doc("blobs", [], blobs=[blob()], coverage={"torch": {"available": True, "probes": {}}}),
    make_doc("drift", [], drift=[{"target": "torch", "op": "conv2d", "dtype": "float16", "case": {}, "output": [1]}]),
], ids=lambda d: d["run"]["name"])
def test_fixtures_validate(write, doc):
    assert load_results(write(doc))["run"]["name"] == doc["run"]["name"]


def test_the_demo_runs_validate(tmp_path):
    for path in write_demo(tmp_path):
        assert load_results(path)["records"]


def test_a_freshly_written_file_validates_against_the_schema_itself(tmp_path):
    results = ResultsFile(tmp_path / "results.json", {"name": "fresh", "profile": "ci"}, {"python": "3.11"})
    results.flush()
    results.add_record(make_record(max_ulp_error=math.inf, max_tol_ratio=math.nan, device={"platform": "cpu",
                                                                                          "name": None}))
    results.set_fingerprint("torch", {"framework": "torch", "probes": {"eps": {"value": 1e-5}}})
    results.set_coverage("torch", {"available": True, "probes": {"p": {"offered": False, "reason": "no"}}})
    results.add_drift({"target": "torch", "op": "conv2d", "dtype": "float32", "case": {"seed": 1}, "output": [0.5]})
    results.finish(complete=True)
    raw = json.loads((tmp_path / "results.json").read_text())
    Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(raw)  # raises if not
    doc = load_results(tmp_path)
    assert doc["run"]["complete"] is True and math.isinf(doc["records"][0]["max_ulp_error"])


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["run"].update(name=""), r"run\.name is '', expected a non-empty string"),
    (lambda d: d["run"].pop("name"), r"'run\.name' is missing"),
    (lambda d: d["run"].update(targets="torch"), r"run\.targets is str, expected a list"),
    (lambda d: d["run"].update(collection_errors={}), r"run\.collection_errors is dict, expected a list"),
    (lambda d: d.update(records={}), r"records is dict, expected a list"),
    (lambda d: d.update(drift=[{"target": "t", "op": "conv2d", "dtype": "float32", "case": {}}]),
     r"'drift\[0\]\.output' is missing"),
    (lambda d: d.update(coverage={"torch": {"probes": {"p": {"offered": "yes"}}}}),
     r"coverage\['torch'\]\.probes\['p'\]\.offered is str, expected true/false"),
    (lambda d: d["records"][1].update(unsupported={"why": 1.5}),
     r"records\[1\]\.unsupported\['why'\] is float, expected an integer"),
    (lambda d: d["records"].append("x"), r"records\[2\] is str, expected an object"),
])
def test_a_malformed_file_is_refused_naming_the_file_and_the_json_path(tmp_path, change, problem):
    doc = make_doc("bad", [make_record(), make_record(dtype="float16")])
    change(doc)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match=problem) as info:
        load_results(path)
    assert str(info.value).startswith(f"{path}: ")


def test_several_problems_name_the_first_and_count_the_others(write):
    path = write(make_doc("bad", [make_record(verdict="ok", examples=-1)]))
    with pytest.raises(ResultsError, match=r"records\[0\]\.examples is -1, expected at least 0 \(and 1 more"):
        load_results(path)


# -- the journal ---------------------------------------------------------------------------------

def _started(tmp_path, records=2) -> ResultsFile:
    """A run that wrote ``records`` records and was then abandoned (as if killed)."""
    results = ResultsFile(tmp_path / "results.json", {"name": "killed"}, {})
    results.flush()
    for index in range(records):
        results.add_record(make_record(dtype=f"float{16 * (index + 1)}"))
    return results


def test_an_unfinished_run_is_read_from_its_journal(tmp_path):
    _started(tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["records"] == []  # the placeholder
    doc = load_results(tmp_path / "results.json")
    assert [r["dtype"] for r in doc["records"]] == ["float16", "float32"]
    assert doc["run"]["complete"] is False and "journal" not in doc["run"]
    assert load_results(journal_path(tmp_path / "results.json"))["records"] == doc["records"]  # the .jsonl itself


def test_the_journal_alone_is_read_when_the_placeholder_is_gone(tmp_path):
    _started(tmp_path)
    (tmp_path / "results.json").unlink()
    assert len(load_results(tmp_path)["records"]) == 2


def test_a_torn_last_line_is_left_out_and_a_corrupt_one_before_it_is_named(tmp_path):
    _started(tmp_path)
    journal = journal_path(tmp_path / "results.json")
    with journal.open("a") as handle:
        handle.write('{"record": {"id": "x", "verd')  # the kill came in the middle of a line
    assert len(load_results(tmp_path)["records"]) == 2
    lines = journal.read_text().split("\n")
    lines[1] = lines[1][:20]
    journal.write_text("\n".join(lines))
    with pytest.raises(ResultsError, match=r"results\.jsonl: line 2: corrupt JSON"):
        load_results(tmp_path)


def test_a_journal_must_start_with_its_header(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"record": {"id": "x", "verdict": "pass"}}\n')
    with pytest.raises(ResultsError, match=r"line 1: not a results journal"):
        load_results(path)


def test_a_record_in_the_journal_is_validated_like_any_record(tmp_path):
    results = _started(tmp_path, records=1)
    results.add_record({**make_record(), "verdict": "passed"})
    with pytest.raises(ResultsError, match=r"results\.jsonl: records\[1\]\.verdict is 'passed'"):
        load_results(tmp_path)


def test_finishing_consolidates_and_removes_the_journal(tmp_path):
    results = _started(tmp_path)
    results.run["targets"] = ["torch"]
    results.finish(complete=True)
    assert not journal_path(tmp_path / "results.json").exists()
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["run"]["complete"] is True and doc["run"]["targets"] == ["torch"] and len(doc["records"]) == 2
    assert "journal" not in doc["run"]


def test_a_stale_journal_beside_a_finished_file_is_ignored(tmp_path):
    results = _started(tmp_path)
    results.finish(complete=True)
    journal_path(tmp_path / "results.json").write_text('{"header": {}}\n')  # e.g. killed after the rename
    assert len(load_results(tmp_path)["records"]) == 2


def test_the_gate_fails_a_killed_run_and_counts_its_records(tmp_path, capsys):
    _started(tmp_path)
    code = main_gate([str(tmp_path / "results.json"), "--no-known-deviations"])
    out = capsys.readouterr().out
    assert code == 1 and "run did not complete: killed" in out and "2 records" in out
