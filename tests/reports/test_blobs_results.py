"""Two-blob records in the results files, the report and the gate: the optional ``blobs`` list
(older files without it stay valid), the ``bnconform-blobs/1`` file ``python -m bnconform.blobs run`` writes,
a failed run or an uncaught planted bug failing the gate, and the report's section."""

from __future__ import annotations

import json

from bnconform.app.reports_cli import main_gate, main_report
from bnconform.reports.schema import load_results
from bnconform.reports.writer import ResultsFile

from .conftest import make_doc, make_record

BAYES = {"p_star": 0.8461, "n": 250, "alpha": 0.001, "z": 3.09, "sd": 0.0228, "low": 0.7756,
         "high": 0.9166, "bayes_rule_test_accuracy": 0.86, "bayes_rule_train_accuracy": 0.849}


def blob(**fields) -> dict:
    record = {"target": "torch", "framework": "torch", "version": "2.13.0", "backend": None,
              "versions": {"torch": "2.13.0"}, "model": "shallow", "bn": False, "broken_bn": False,
              "seed": 0, "data": {"sha256": "ab"}, "bayes": dict(BAYES),
              "epochs": [{"epoch": e, "loss": 0.5 - 0.01 * e, "accuracy": 0.8, "val_loss": 0.45 - 0.005 * e,
                          "val_accuracy": 0.83 + 0.001 * e} for e in range(1, 6)],
              "test_accuracy": 0.834, "test_loss": 0.42, "recalibrated": None, "moving_statistics": None,
              "checks": {"accuracy": {"gated": True, "value": 0.834, "low": 0.7756, "high": 0.9166, "ok": True}},
              "wall_seconds": 1.5, "verdict": "pass"}
    record.update(fields)
    return record


def isolated(args):
    """``args`` with ``--no-shipped-deviations`` where they name a deviations file: the entries under
    test alone, as the file replaced the shipped one."""
    args = [str(a) for a in args]
    return args + ["--no-shipped-deviations"] if "--known-deviations" in args else args


def gate(capsys, *args):
    code = main_gate(isolated(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_results_file_without_blobs_stays_valid(write):
    doc = make_doc("old", [make_record()])
    assert "blobs" not in doc
    assert load_results(write(doc))["blobs"] == []


def test_the_writer_keeps_a_blobs_list(tmp_path):
    results = ResultsFile(tmp_path / "results.json", {"name": "r", "profile": "ci"}, {})
    results.add_blobs(blob())
    results.finish(complete=True)
    doc = load_results(tmp_path / "results.json")
    assert [r["model"] for r in doc["blobs"]] == ["shallow"]


def test_a_failed_blob_run_exits_1(write, capsys):
    failing = blob(test_accuracy=0.62, verdict="fail",
                   checks={"accuracy": {"gated": True, "value": 0.62, "ok": False}})
    code, out, _ = gate(capsys, write(make_doc("r", [make_record()], blobs=[failing])), "--no-known-deviations")
    assert code == 1 and "1 two-blob failure(s)" in out
    assert "[r] torch shallow no-BN seed 0: failed accuracy 0.62" in out


def test_an_uncaught_planted_bug_exits_1_and_a_caught_one_passes(write, capsys):
    missed = blob(bn=True, broken_bn=True, verdict="fail", control={"caught_by": []})
    code, out, _ = gate(capsys, write(make_doc("r", [make_record()], blobs=[missed])), "--no-known-deviations")
    assert code == 1 and "planted bug (inverted BN momentum) NOT caught by any check" in out
    caught = blob(bn=True, broken_bn=True, verdict="pass", control={"caught_by": ["moving_statistics"]})
    code, _, _ = gate(capsys, write(make_doc("r", [make_record()], blobs=[caught])), "--no-known-deviations")
    assert code == 0


def test_a_blobs_file_is_read_as_a_run(tmp_path, capsys):
    path = tmp_path / "blobs.json"
    path.write_text(json.dumps({"schema": "bnconform-blobs/1", "command": "python -m bnconform.blobs run",
                                "blobs": [blob()]}))
    code, out, _ = gate(capsys, path, "--no-known-deviations")
    assert code == 0
    assert "blobs/blobs      complete       0 records, 1 two-blob runs  torch 2.13.0" in out
    path.write_text(json.dumps({"schema": "bnconform-blobs/1", "blobs": {}}))
    code, _, err = gate(capsys, path, "--no-known-deviations")
    assert code == 2 and f"{path}: 'blobs' is dict, expected a list" in err


def test_a_blobs_entry_that_is_not_an_object_is_named(write, capsys):
    code, _, err = gate(capsys, write(make_doc("r", [make_record()], blobs=[3])), "--no-known-deviations")
    assert code == 2 and "blobs[0] is int, expected an object" in err


def render(tmp_path, paths) -> str:
    out = tmp_path / "site"
    assert main_report([*map(str, paths), "-o", str(out), "--no-known-deviations"]) == 0
    return (out / "index.html").read_text(encoding="utf-8")


def test_the_section_shows_only_with_blob_records_and_draws_the_bayes_line(write, tmp_path):
    assert 'id="blobs"' not in render(tmp_path, [write(make_doc("a", [make_record()]))])
    with_bn = blob(bn=True, test_accuracy=0.72,
                   recalibrated={"test_accuracy": 0.852, "test_loss": 0.35},
                   moving_statistics={"min": 0.2214, "max": 0.2216, "expected": 0.2215, "ok": True},
                   loss_gap={"gap_bn": 0.221, "gap_no_bn": 0.008},
                   checks={"accuracy": {"gated": True, "value": 0.852, "ok": True},
                           "inference_accuracy": {"gated": False, "value": 0.72, "ok": False}})
    broken = blob(bn=True, broken_bn=True, verdict="pass", control={"caught_by": ["moving_statistics"]},
                  checks={"moving_statistics": {"gated": True, "value": 0.0, "ok": False}})
    page = render(tmp_path, [write(make_doc("b", [make_record()], blobs=[blob(), with_bn, broken]))])
    section = page[page.index('id="blobs"'):page.index('id="cells"')]
    assert "p* = 0.8461 for 250 test points" in section
    assert "0.776 – 0.917" in section  # the band
    assert "0.2214 – 0.2216 (m^k = 0.2215)" in section
    assert "+0.221 / +0.008" in section
    assert "planted bug caught by moving_statistics" in section
    assert section.count("outside the band; not gated") == 1  # the BN run's 0.72, shown, not failed
    assert "Bayes p* = 0.846" in section and "band low 0.776" in section  # the accuracy plot's lines
    assert "torch · shallow · seed 0: loss" in section and "torch · shallow · seed 0: test accuracy" in section


def test_the_section_escapes_what_it_shows(write, tmp_path):
    evil = "<script>alert(1)</script>"
    page = render(tmp_path, [write(make_doc("e", [make_record()], blobs=[blob(target=evil, model=evil)]))])
    assert evil not in page and "&lt;script&gt;" in page
