"""The device in every verdict: records name it, old files read as the cpu, the matrix keeps one
version on two devices apart, the gate names a GPU-only failure as the GPU's, drift compares runs on
the same device only."""

from __future__ import annotations

import pytest

from bnconform.app.reports_cli import main_gate
from bnconform.reports.drift import drift_rows
from bnconform.reports.model import build, load_runs
from bnconform.reports.schema import ResultsError, device_label, load_results

from .conftest import make_doc, make_record

H200 = {"platform": "cuda", "name": "cuda:0 NVIDIA H200"}


def test_a_record_without_a_device_reads_as_the_cpu_with_no_name(write):
    doc = load_results(write(make_doc("old", [make_record()])))
    assert doc["records"][0]["device"] == {"platform": "cpu", "name": None}
    assert device_label(doc["records"][0]) == "cpu"


@pytest.mark.parametrize("device, problem", [
    ("cuda", r"records\[0\]\.device is str, expected an object"),
    ({"name": "x"}, r"'records\[0\]\.device\.platform' is missing"),
    ({"platform": 3, "name": None}, r"records\[0\]\.device\.platform is int, expected a string"),
    ({"platform": "cuda", "name": 1}, r"records\[0\]\.device\.name is int, expected a string or null"),
])
def test_a_malformed_device_is_a_schema_error_naming_it(write, device, problem):
    with pytest.raises(ResultsError, match=problem):
        load_results(write(make_doc("bad", [make_record(device=device)])))


def test_one_version_on_two_devices_is_two_matrix_rows(write):
    path = write(make_doc("h200", [make_record(device={"platform": "cpu", "name": "cpu"}),
                                   make_record(device=H200, verdict="fail")]))
    results = build(load_runs([path]), None)
    rows = {(row.target, row.version, row.device) for row in results.matrix.rows}
    assert rows == {("torch", "2.13.0", "cpu"), ("torch", "2.13.0", "cuda (cuda:0 NVIDIA H200)")}
    verdicts = {row.device: results.matrix.worst(row, col) for row in results.matrix.rows for col in results.matrix.columns}
    assert verdicts == {"cpu": "pass", "cuda (cuda:0 NVIDIA H200)": "fail"}


def test_a_gpu_only_failure_is_the_gpus(write, capsys):
    path = write(make_doc("h200", [make_record(), make_record(device=H200, verdict="fail", max_tol_ratio=1.58)]))
    assert main_gate([str(path)]) == 1
    out = capsys.readouterr().out
    assert "fail  torch 2.13.0 on cuda (cuda:0 NVIDIA H200) batch_norm/train float32 bn_forward" in out


def _drift(name, platform, value):
    entry = {"target": "torch", "op": "conv2d", "dtype": "float32", "case": {"c": 1}, "output": [value]}
    if platform is not None:
        entry["device"] = {"platform": platform, "name": None}
    return {"name": name, "versions": {"torch": "2.13.0"}, "drift": [entry]}


def test_drift_compares_runs_on_the_same_device_only():
    rows = drift_rows([_drift("cpu-a", None, 1.0), _drift("gpu-a", "cuda", 1.5), _drift("cpu-b", "cpu", 1.0),
                       _drift("gpu-b", "cuda", 1.5)])
    assert [(r.before, r.after, r.platform, r.max_ulp) for r in rows] == [
        ("cpu-a", "cpu-b", "cpu", 0.0), ("gpu-a", "gpu-b", "cuda", 0.0)]


def test_the_fingerprint_table_shows_device_and_math_mode():
    from bnconform.reports.model import Run
    from bnconform.reports.page.fingerprints import fingerprints_section

    fp = {"framework": "torch", "version": "2.11.0", "target": "torch", "probes": {},
          "device": H200, "math_mode": {"default": {"value": "tf32", "evidence": "e = 0.00391"},
                                        "full_float32": {"value": "float32", "evidence": "e = 0.00439"},
                                        "matmul": {"default": {"value": "bfloat16", "evidence": "e = 0"},
                                                   "full_float32": {"value": "float32", "evidence": "e = 0.0044"}}}}
    doc = make_doc("h200", [], fingerprints={"torch": fp})
    html = str(fingerprints_section([Run(name="h200", path="x", doc=doc)]))
    for text in ("float32 conv2d (default)", "tf32", "float32 conv2d (full float32)", "float32 matmul (default)",
                 "bfloat16", "float32 matmul (full float32)", "cuda:0 NVIDIA H200"):
        assert text in html, text
