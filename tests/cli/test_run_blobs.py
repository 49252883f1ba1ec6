"""``bnconform run --blobs``: the main job also trains the two-blob CI matrix, into
``results/blobs/results.json`` (read by the report and the gate like any run)."""

import json

import pytest

from bnconform.app import cli
from bnconform.app.reports_cli import main_gate
from bnconform.reports.schema import load_results


def test_targets_without_a_two_blob_trainer_are_a_usage_error_before_anything_runs(tmp_path, capsys):
    code = cli.main(["run", "--target", "jax", "--blobs", "--results", str(tmp_path / "r")])
    assert code == 2
    assert "--blobs: none of the targets jax has a two-blob trainer" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_the_matrix_lands_in_the_results_directory_and_passes_the_gate(tmp_path, capsys):
    pytest.importorskip("torch")
    stale = tmp_path / "blobs" / "results.json"
    stale.parent.mkdir()
    stale.write_text(json.dumps({"schema": "bnconform-blobs/1", "blobs": [{"verdict": "fail"}]}))
    assert cli._run_blobs(["torch"], tmp_path) == 0
    doc = load_results(stale)
    assert doc["run"]["name"] == "blobs/blobs"
    runs = {(r["model"], r["bn"], r["seed"], r["broken_bn"]) for r in doc["blobs"]}
    assert ("deep", True, 0, False) in runs and ("shallow", True, 0, True) in runs and len(runs) == 9
    assert {r["target"] for r in doc["blobs"]} == {"torch"}
    capsys.readouterr()
    assert main_gate([str(stale), "--no-known-deviations"]) == 0
    assert "9 two-blob runs" in capsys.readouterr().out
