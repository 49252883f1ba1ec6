"""The report and the gate over a tox matrix: a results directory with one run per environment,
and the environments that must be there (``--expect``)."""

from __future__ import annotations

from bnconform.app.reports_cli import main_gate, main_report

from .conftest import make_doc, make_record, write_doc


def test_a_directory_of_runs_is_read_whole(tmp_path, capsys):
    write_doc(tmp_path / "results", make_doc("torch213", [make_record()]))
    write_doc(tmp_path / "results", make_doc("torch214", [make_record(version="2.14.1")]))
    code = main_report([str(tmp_path / "results"), "-o", str(tmp_path / "out"), "--no-known-deviations"])
    assert code == 0
    assert "2 run(s)" in capsys.readouterr().out
    page = (tmp_path / "out" / "index.html").read_text()
    assert "torch213" in page and "torch214" in page


def test_an_empty_directory_is_an_input_error_naming_it(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    assert main_gate([str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert "results" in err and "no results.json" in err


def test_an_expected_environment_without_results_fails_the_gate_and_shows_in_the_report(tmp_path, capsys):
    results = tmp_path / "results"
    write_doc(results, make_doc("torch213", [make_record()]))
    expect = ["--expect", "torch213,torch999", "--no-known-deviations"]
    assert main_gate([str(results), *expect]) == 1
    assert "no results from torch999" in capsys.readouterr().out
    assert main_report([str(results), "-o", str(tmp_path / "out"), *expect]) == 0
    assert "no results from torch999" in (tmp_path / "out" / "index.html").read_text()


def test_all_expected_environments_present_pass(tmp_path):
    results = tmp_path / "results"
    write_doc(results, make_doc("torch213", [make_record()]))
    assert main_gate([str(results), "--expect", "torch213", "--no-known-deviations"]) == 0
