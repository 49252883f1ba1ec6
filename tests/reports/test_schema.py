"""Loading results files: every kind of bad input is refused with the file's name and the problem."""

import json
import math

import pytest

from bnconform.reports.jsonsafe import as_number, dumps
from bnconform.reports.schema import ResultsError, load_results, worst_verdict

from .conftest import make_doc, make_record


def test_loads_a_valid_file_and_decodes_non_finite_numbers(write):
    path = write(make_doc("r", [make_record(max_ulp_error="inf", max_tol_ratio="nan")]))
    record = load_results(path)["records"][0]
    assert record["max_ulp_error"] == math.inf
    assert math.isnan(record["max_tol_ratio"])


def test_a_directory_means_its_results_json(write):
    path = write(make_doc("r", []))
    assert load_results(path.parent)["run"]["name"] == "r"


def test_truncated_file_names_the_file(write):
    path = write(make_doc("r", [make_record()]))
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ResultsError) as info:
        load_results(path)
    assert str(path) in str(info.value)
    assert "truncated" in str(info.value)


@pytest.mark.parametrize("content, problem", [
    ("", "empty file"),
    ("{'schema': 1}", "corrupt JSON"),
    ("[1, 2]", "top level is list"),
    ('{"schema": "other/2"}', "schema is 'other/2'"),
])
def test_bad_content(tmp_path, content, problem):
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(ResultsError, match=problem) as info:
        load_results(path)
    assert info.value.path == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(ResultsError, match="no such file") as info:
        load_results(tmp_path / "nope.json")
    assert "nope.json" in str(info.value)


@pytest.mark.parametrize("change, problem", [
    ({"verdict": "passed"}, r"records\[0\].verdict is 'passed'"),
    ({"id": 3}, r"records\[0\]\.id is int, expected a string"),
    ({"max_ulp_error": "big"}, r"records\[0\]\.max_ulp_error is 'big', expected a number, \"nan\""),
    ({"examples": -1}, r"records\[0\]\.examples is -1, expected at least 0"),
    ({"examples": True}, r"records\[0\]\.examples is bool, expected an integer"),
    ({"target": ["torch"]}, r"records\[0\]\.target is list, expected a string or null"),
    ({"explained": {"e": -2}}, r"records\[0\]\.explained\['e'\] is -2, expected at least 0"),
])
def test_bad_records_are_named(write, change, problem):
    path = write(make_doc("r", [make_record(**change)]))
    with pytest.raises(ResultsError, match=problem):
        load_results(path)


def test_run_must_say_whether_it_completed(write):
    doc = make_doc("r", [])
    del doc["run"]["complete"]
    with pytest.raises(ResultsError, match="run.complete"):
        load_results(write(doc))


def test_strict_json_round_trip_of_non_finite_and_numpy_values():
    np = pytest.importorskip("numpy")
    text = dumps({"a": math.inf, "b": [-math.inf, math.nan], "c": np.float32(0.5), "d": np.arange(2)})
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text)
    assert doc == {"a": "inf", "b": ["-inf", "nan"], "c": 0.5, "d": [0, 1]}
    assert as_number(doc["a"]) == math.inf and math.isnan(as_number(doc["b"][1]))
    with pytest.raises(ValueError, match="expected a number"):
        as_number("infinite")


def test_worst_verdict_orders_by_severity():
    assert worst_verdict(["pass", "skip", "known-deviation"]) == "known-deviation"
    assert worst_verdict(["fixed-deviation", "known-deviation"]) == "fixed-deviation"
    assert worst_verdict(["fail", "error", "pass"]) == "error"
    assert worst_verdict([]) is None


def test_old_pooling_op_names_read_as_pool2d_and_the_kind(write):
    """Files written before one name per op: ``avg_pool2d`` records and drift labels line up with new ones."""
    old = make_record(property="pool2d", op="avg_pool2d", mode="-")
    new = make_record(property="pool2d", op="pool2d", kind="max", mode="-")
    bn = make_record()
    drift = [{"target": "torch", "op": "global_avg_pool2d", "case": {}, "output": [1.0], "dtype": "float32"},
             {"target": "torch", "op": "conv2d/valid", "case": {}, "output": [1.0], "dtype": "float32"}]
    doc = load_results(write(make_doc("r", [old, new, bn], drift=drift)))
    assert [(r["op"], r["kind"]) for r in doc["records"]] == [("pool2d", "avg"), ("pool2d", "max"), ("batch_norm", None)]
    assert [e["op"] for e in doc["drift"]] == ["pool2d/global_avg", "conv2d/valid"]
