"""Kernel configurations in the known deviations and the gate: an entry scoped to one CPU kernel
path explains records measured on that path only, the gate's unit names the path, and a
configuration this machine cannot take is said, not failed."""

import json

import pytest

from bnconform.app.reports_cli import main_gate
from bnconform.reports.deviations import DeviationsError, entry_statuses, load_deviations, parse_deviations

from .conftest import make_doc, make_record

# TensorFlow's Eigen AvgPool adds bfloat16 in bfloat16; with oneDNN the sum is float32
ENTRY = '''
[[deviation]]
id = "tf-avg-bf16-eigen"
target = "keras-tensorflow"
framework = "keras"
versions = ">=3.14.1,<=3.15.1"
property = "pool2d*"
op = "pool2d"
kind = "avg"
dtype = "bfloat16"
kernels = "onednn-off"
model = "half_precision_accumulation"
reason = "Eigen's AvgPool sums bfloat16 in bfloat16"
link = "https://example.org/tf/1"
'''


def avg_bf16(kernels, **fields):
    base = dict(target="keras-tensorflow", framework="keras", version="3.15.1", backend="tensorflow",
                property="pool2d", op="pool2d", kind="avg", mode="-", dtype="bfloat16", kernels=kernels)
    base.update(fields)
    return make_record(**base)


@pytest.mark.parametrize("kernels, expected", [
    ("onednn-off", True),     # by the switch, or by a CPU whose default it is: the record says which path
    ("onednn-on", False),
    (None, False),            # a record from before kernel paths were measured
])
def test_an_entry_naming_a_kernel_path_covers_the_records_measured_on_it_only(kernels, expected):
    (entry,) = parse_deviations(ENTRY)
    assert entry.matches(avg_bf16(kernels)) is expected
    assert "kernels=onednn-off" in entry.label and entry.as_dict()["kernels"] == "onednn-off"


@pytest.mark.parametrize("written, problem", [
    ("default", "kernels 'default': expected a kernel configuration, one of aten-avx512"),
    ("onednn-*", "kernels 'onednn-*': expected a kernel configuration"),
    ("avx9000", "kernels 'avx9000': expected a kernel configuration"),
])
def test_an_unknown_kernel_path_is_refused_naming_the_entry(tmp_path, written, problem):
    path = tmp_path / "kd.toml"
    path.write_text(ENTRY.replace('kernels = "onednn-off"', f'kernels = "{written}"'))
    with pytest.raises(DeviationsError) as info:
        load_deviations(path)
    assert str(info.value).startswith(f"{path}:2: deviation #1 (id tf-avg-bf16-eigen): {problem}")


def test_an_entry_for_another_kernel_path_is_not_tested_by_this_one():
    (entry,) = parse_deviations(ENTRY)
    assert [s.status for s in entry_statuses([entry], [avg_bf16("onednn-on")])] == ["not-tested"]
    explained = avg_bf16("onednn-off", verdict="known-deviation", explained={"tf-avg-bf16-eigen": 3})
    assert [(s.status, s.examples) for s in entry_statuses([entry], [explained])] == [("active", 3)]


def gate(capsys, tmp_path, *docs):
    tmp_path.mkdir(parents=True, exist_ok=True)
    known = tmp_path / "known.toml"
    known.write_text(ENTRY)
    paths = []
    for doc in docs:
        path = tmp_path / doc["run"]["name"] / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    code = main_gate([*paths, "--known-deviations", str(known), "--no-shipped-deviations"])
    return code, capsys.readouterr().out


def explained(kernels):
    return avg_bf16(kernels, verdict="known-deviation", max_tol_ratio=820.0, explained={"tf-avg-bf16-eigen": 2},
                    deviations=[{"id": "tf-avg-bf16-eigen", "model": "half_precision_accumulation", "params": {}}])


def test_the_gate_passes_the_path_its_entry_explains(capsys, tmp_path):
    code, out = gate(capsys, tmp_path, make_doc("kt", [avg_bf16("onednn-off", dtype="float32"), explained("onednn-off")]))
    assert code == 0, out


def test_the_gate_fails_a_kernel_path_that_behaves_otherwise_than_its_entries_allow(capsys, tmp_path):
    """The same deviation recorded on the oneDNN path, which the entry does not cover: a new failure
    of that unit (framework version and kernel path), named so."""
    code, out = gate(capsys, tmp_path, make_doc("kt@onednn-on", [avg_bf16("onednn-on", dtype="float32"),
                                                                  explained("onednn-on")]))
    assert code == 1 and "1 new failure(s)" in out
    assert "keras 3.15.1 [tensorflow] kernels onednn-on pool2d (avg)/- bfloat16" in out


def test_a_configuration_this_machine_cannot_take_is_a_warning_with_its_reason(capsys, tmp_path):
    reason = ("kernel configuration aten-avx512 is not available on this CPU: it lacks avx512f, avx512bw, "
              "avx512vl, avx512dq (measured: capability AVX512, conv_backend Mkldnn)")
    skipped = make_doc("torch@aten-avx512", [make_record(verdict="skip", reason=reason, kernels="aten-avx512")])
    skipped["run"].update(targets=["torch"], kernels={"asked": "aten-avx512", "engines": {"torch": {
        "engine": "torch", "asked": "aten-avx512", "name": "aten-avx512", "state": {"capability": "AVX512"},
        "honoured": False, "reason": reason}}})
    tested = make_doc("torch", [make_record(kernels="aten-avx2")])
    code, out = gate(capsys, tmp_path, tested, skipped)
    assert code == 0, out
    assert f"[torch@aten-avx512] kernel configuration not run on this machine: {reason}" in out
    # the same skips without the measured refusal are a run that tested nothing: a failure
    del skipped["run"]["kernels"]
    code, out = gate(capsys, tmp_path / "again", tested, skipped)
    assert code == 1 and "run torch@aten-avx512: none of its declared targets was tested" in out


def test_the_coverage_view_names_each_runs_kernel_path_and_the_ones_it_could_not_take():
    from bnconform.reports.model import load_runs
    from bnconform.reports.page.coverage_view import collect, coverage_section, kernel_text

    path = {"engine": "torch", "asked": "default", "name": "aten-avx2",
            "state": {"capability": "AVX2", "conv_backend": "Mkldnn"}, "honoured": True, "reason": None}
    refused = {**path, "asked": "aten-avx512", "name": "aten-avx512", "honoured": False,
               "reason": "kernel configuration aten-avx512 is not available on this CPU: it lacks avx512f"}
    docs = [make_doc("torch", [make_record(kernels="aten-avx2")], coverage={"torch": {"available": True, "kernels": path}}),
            make_doc("torch@aten-avx512", [make_record(verdict="skip", kernels="aten-avx512")],
                     coverage={"torch": {"available": True, "kernels": refused}})]
    items = collect(runs_of(docs, load_runs))
    assert [kernel_text(i) for i in items] == [
        ("aten-avx2 (as default)", "measured: capability AVX2, conv_backend Mkldnn"),
        ("aten-avx512: not run here", refused["reason"])]
    html = str(coverage_section(runs_of(docs, load_runs)))
    assert "CPU kernel path" in html and "aten-avx512: not run here" in html


def runs_of(docs, load_runs):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    paths = []
    for doc in docs:
        path = folder / doc["run"]["name"].replace("@", "-") / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(doc))
        paths.append(path)
    return load_runs(paths)


def test_the_gate_names_the_machine_its_kernel_flags_and_the_paths_run(capsys, tmp_path):
    doc = make_doc("kt", [avg_bf16("onednn-off", dtype="float32"), explained("onednn-off")])
    doc["environment"].update(cpu="AMD EPYC", cpu_flags=["avx", "avx2", "fma"])
    code, out = gate(capsys, tmp_path, doc)
    assert code == 0 and "machine: AMD EPYC; kernel flags: avx avx2 fma; kernel paths run: onednn-off" in out


def test_a_matrix_row_names_the_kernel_paths_its_records_measured():
    from bnconform.reports.model import _matrix, load_runs
    from bnconform.reports.page.common import row_subtitle

    on = make_doc("kt@onednn-on", [avg_bf16("onednn-on", dtype="float32"), explained("onednn-off")])
    plain = make_doc("torch", [make_record()])
    rows = {row.run: row for row in _matrix(runs_of([on, plain], load_runs)).rows}
    assert row_subtitle(rows["kt@onednn-on"]) == "target keras-tensorflow · kernels onednn-off, onednn-on · run kt@onednn-on"
    assert row_subtitle(rows["torch"]) == "target torch · run torch"  # records without a path: as before
