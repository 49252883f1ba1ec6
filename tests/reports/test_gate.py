"""The gate's exit codes: 0 conforms or deviates as known, 1 anything new, 2 bad input."""

import json
import subprocess
import sys

import pytest

from bnconform.app.reports_cli import main_gate

from .conftest import DEVIATION_FLAX, REPO, explained_record, make_doc, make_record


def flax_adversarial(verdict):
    return make_record(target="flax-linen", framework="flax", version="0.12.8", property="bn_forward_adversarial",
                       verdict=verdict, max_tol_ratio=40.0)


@pytest.fixture
def known(tmp_path):
    path = tmp_path / "known.toml"
    path.write_text(DEVIATION_FLAX)
    return str(path)


def isolated(args):
    """``args`` with ``--no-shipped-deviations`` where they name a deviations file: the entries under
    test alone, as the file replaced the shipped one."""
    args = [str(a) for a in args]
    return args + ["--no-shipped-deviations"] if "--known-deviations" in args else args


def gate(capsys, *args):
    code = main_gate(isolated(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_everything_passing_exits_0(write, known, capsys):
    path = write(make_doc("torch213", [make_record(), make_record(dtype="float16")]))
    code, out, _ = gate(capsys, path, "--known-deviations", known)
    assert code == 0
    assert out.splitlines()[0].startswith("bnconform gate: PASS (exit 0)")
    assert "2 pass" in out


def test_only_known_deviations_exit_0(write, known, capsys):
    path = write(make_doc("flax", [make_record(), explained_record()]))
    code, out, _ = gate(capsys, path, "--known-deviations", known)
    assert code == 0
    assert "1 known-deviation" in out and "NEW FAILURES" not in out
    assert "(1 entries: 1 active)" in out


def test_an_unexplained_failure_on_a_test_with_an_entry_is_new(write, known, capsys):
    """The entry covers the test, but the run found an example its model does not explain."""
    path = write(make_doc("flax", [make_record(), flax_adversarial("fail")]))
    code, out, _ = gate(capsys, path, "--known-deviations", known)
    assert code == 1 and "1 new failure(s)" in out


def test_a_planted_new_failure_exits_1_and_is_named(write, known, capsys):
    planted = make_record(dtype="float16", verdict="fail", max_ulp_error=12.0, max_tol_ratio=3.5,
                          replay="python -m bnconform replay torch bn_forward train '{}'")
    path = write(make_doc("torch213", [make_record(), explained_record(), planted]))
    code, out, _ = gate(capsys, path, "--known-deviations", known)
    assert code == 1
    assert "FAIL (exit 1) - 1 new failure(s)" in out
    assert "[torch213] fail  torch 2.13.0 batch_norm/train float16 bn_forward" in out
    assert planted["id"] in out
    assert "replay the first: python -m bnconform replay torch bn_forward train '{}'" in out


def test_errors_count_as_new_failures(write, capsys):
    path = write(make_doc("r", [make_record(verdict="error", message="ValueError: boom")]))
    assert gate(capsys, path, "--no-known-deviations")[0] == 1


def test_a_known_deviation_whose_entry_was_removed_is_new_again(write, tmp_path, capsys):
    """The gate re-derives verdicts from the file in force, not from what the run wrote."""
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    path = write(make_doc("flax", [explained_record()]))
    code, out, _ = gate(capsys, path, "--known-deviations", empty)
    assert code == 1 and "1 new failure(s)" in out
    assert "3 example(s) explained by entry flax-one-pass, which is no longer in the known-deviations file" in out
    assert gate(capsys, path, "--no-known-deviations")[0] == 0  # as recorded


def test_an_upgrade_outside_the_entry_range_fails_and_the_entry_is_stale(write, known, capsys):
    """Run at a version the entry does not cover: its explained examples are new failures."""
    path = write(make_doc("flax", [explained_record(version="0.13.0")]))
    code, out, _ = gate(capsys, path, "--known-deviations", known)
    assert code == 1
    assert "whose versions >=0.7,<=0.12.8 no longer include flax 0.13.0" in out
    assert "stale known deviation #1 flax-one-pass" in out


def test_an_old_whole_test_known_deviation_is_new_under_the_models(write, known, capsys):
    path = write(make_doc("flax", [flax_adversarial("known-deviation")]))
    code, out, _ = gate(capsys, path, "--known-deviations", known)
    assert code == 1 and "before entries were models" in out


def test_stale_and_unused_entries_warn_but_pass(write, tmp_path, capsys):
    kd = tmp_path / "kd.toml"
    kd.write_text(DEVIATION_FLAX + '''
[[deviation]]
id = "torch-ancient"
framework = "torch"
versions = "<2.0"
property = "bn_forward"
model = "float32_compute"
reason = "ancient"
link = "https://example.org/torch/1"

[[deviation]]
id = "torch-typo"
framework = "torch"
versions = "<3"
property = "bn_forward"
dtype = "float23"
model = "float32_compute"
reason = "typo"
link = "https://example.org/torch/2"
''')
    path = write(make_doc("mixed", [make_record(), flax_adversarial("pass")]))
    code, out, _ = gate(capsys, path, "--known-deviations", kd)
    assert code == 0
    assert "WARNINGS (2):" in out
    assert ("stale known deviation #2 torch-ancient (torch <2.0 bn_forward/*): no tested version in range "
            "(tested 2.13.0)") in out
    assert "unused known deviation #3 torch-typo (torch <3 bn_forward/* dtype=float23): matches no test" in out
    assert "1 not-reached" in out  # flax-one-pass: its test passed; no warning
    code, out, _ = gate(capsys, path, "--known-deviations", kd, "--strict")
    assert code == 1 and "--strict: 2 warning(s)" in out


def test_an_incomplete_run_exits_1(write, capsys):
    path = write(make_doc("torch213", [make_record()], complete=False))
    code, out, _ = gate(capsys, path, "--no-known-deviations")
    assert code == 1 and "run did not complete: torch213" in out and "INCOMPLETE" in out


def test_collection_errors_exit_1(write, capsys):
    path = write(make_doc("r", [make_record()], collection_errors=[{"id": "bnconform/conformance/test_bn.py",
                                                                     "message": "ImportError"}]))
    code, out, _ = gate(capsys, path, "--no-known-deviations")
    assert code == 1 and "1 collection error(s): [r] bnconform/conformance/test_bn.py" in out


def test_a_failed_cifar_run_exits_1(write, capsys):
    cifar = [{"target": "torch", "arch": "B", "bn": True, "test_accuracy": 0.41, "threshold": 0.7, "verdict": "fail"}]
    path = write(make_doc("r", [make_record()], cifar=cifar))
    code, out, _ = gate(capsys, path, "--no-known-deviations")
    assert code == 1 and "1 CIFAR-10 failure(s)" in out
    assert "[r] torch arch B bn=True test accuracy 0.41 < threshold 0.7" in out


def test_nothing_tested_exits_1(write, capsys):
    path = write(make_doc("r", [make_record(verdict="skip", reason="torch is not installed")]))
    code, out, _ = gate(capsys, path, "--no-known-deviations")
    assert code == 1 and "nothing was tested" in out


def test_several_runs_are_judged_together(write, known, capsys):
    old = write(make_doc("torch212", [make_record(version="2.12.0")]))
    new = write(make_doc("torch213", [make_record(verdict="fail")]))
    code, out, _ = gate(capsys, old, new, "--known-deviations", known)
    assert code == 1
    assert "torch212" in out and "[torch213] fail" in out


def test_a_truncated_results_file_exits_2_naming_it(write, capsys):
    good = write(make_doc("good", [make_record()]))
    bad = write(make_doc("bad", [make_record()] * 3))
    bad.write_text(bad.read_text()[:-40])
    code, out, err = gate(capsys, good, bad, "--no-known-deviations")
    assert code == 2 and out == ""
    assert f"{bad}: truncated JSON" in err


def test_a_missing_results_file_exits_2_naming_it(tmp_path, capsys):
    code, _, err = gate(capsys, tmp_path / "nope" / "results.json")
    assert code == 2 and "nope/results.json: no such file" in err


def test_a_wrong_schema_exits_2(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text('{"schema": "junit"}')
    code, _, err = gate(capsys, path)
    assert code == 2 and f"{path}: schema is 'junit'" in err


def test_a_bad_deviations_file_exits_2_naming_it(write, tmp_path, capsys):
    kd = tmp_path / "kd.toml"
    kd.write_text("# comment\n[[deviation]]\nid = 'x'\nframework = 'flax'\n")
    code, _, err = gate(capsys, write(make_doc("r", [make_record()])), "--known", kd)
    assert code == 2 and f"{kd}:2: deviation #1 (id x): missing required key(s)" in err
    kd.write_text(DEVIATION_FLAX.replace("one_pass_variance", "no_such_model"))
    code, _, err = gate(capsys, write(make_doc("r", [make_record()])), "--known", kd)
    assert code == 2 and f"{kd}:2: deviation #1 (id flax-one-pass): unknown model 'no_such_model'" in err


@pytest.mark.parametrize("args", [["--frobnicate"], []])
def test_usage_errors_exit_2(write, capsys, args):
    path = [write(make_doc("r", [make_record()]))] if args else []
    code, _, err = gate(capsys, *path, *args)
    assert code == 2 and "usage:" in err


def test_summary_fits_one_screen(write, capsys):
    records = [make_record(id=f"t::test[{i}]", verdict="fail") for i in range(40)]
    code, out, _ = gate(capsys, write(make_doc("r", records)), "--no-known-deviations")
    assert code == 1
    assert len(out.splitlines()) <= 30 and "... and 32 more" in out


def test_python_dash_m_reports_gate(write, known):
    path = write(make_doc("flax", [explained_record()]))
    done = subprocess.run([sys.executable, "-m", "bnconform.reports", "gate", str(path), "--known-deviations", known],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run([sys.executable, "-m", "bnconform.reports", "gait"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "invalid choice: 'gait' (choose from 'report', 'gate')" in bad.stderr


def test_a_cifar_run_file_is_judged_as_a_run(tmp_path, capsys):
    """What ``python -m bnconform.cifar run`` writes (schema bnconform-cifar/1, training records only) is read
    as a complete run named cifar/<stem>: its failed run fails the gate."""
    cifar = {"schema": "bnconform-cifar/1", "command": "python -m bnconform.cifar run --profile quick",
             "cifar": [{"target": "torch", "framework": "torch", "version": "2.13.0", "arch": "A", "bn": True,
                        "test_accuracy": 0.52, "threshold": 0.58, "verdict": "fail"}]}
    path = tmp_path / "cifar-quick.json"
    path.write_text(json.dumps(cifar))
    code, out, _ = gate(capsys, path, "--no-known-deviations")
    assert code == 1 and "1 CIFAR-10 failure(s)" in out
    assert "cifar/cifar-quick complete       0 records, 1 CIFAR-10 runs  torch 2.13.0" in out
    cifar["cifar"][0]["verdict"] = "pass"
    path.write_text(json.dumps(cifar))
    assert gate(capsys, path, "--no-known-deviations")[0] == 0


def test_a_cifar_run_file_without_its_list_is_named(tmp_path, capsys):
    path = tmp_path / "cifar-quick.json"
    path.write_text(json.dumps({"schema": "bnconform-cifar/1", "cifar": {}}))
    code, _, err = gate(capsys, path)
    assert code == 2 and f"{path}: 'cifar' is dict, expected a list" in err


# -- declared targets, errors by target, imported versions (bnconform.reports.tested) ---------------------------

def _declared(name, targets, records):
    doc = make_doc(name, records)
    doc["run"]["targets"] = targets
    return doc


def _skip(target, reason):
    return make_record(target=target, framework=target, verdict="skip", reason=reason, examples=0,
                       max_ulp_error=None, max_tol_ratio=None)


def test_a_declared_target_left_untested_beside_tested_ones_warns_and_fails_under_strict(write, capsys):
    path = write(_declared("tf221", ["torch", "tf_keras"],
                           [make_record(), _skip("tf_keras", "tf_keras: tf_keras is not installed")]))
    code, out, _ = gate(capsys, path, "--no-known-deviations")
    assert code == 0, out
    assert ("[tf221] declared target not tested: tf_keras: all 1 records skipped (tf_keras: tf_keras is not "
            "installed)") in out
    code, out, _ = gate(capsys, path, "--no-known-deviations", "--strict")
    assert code == 1 and "--strict: 1 warning(s)" in out


def test_a_run_of_only_skips_fails_even_when_another_run_tested_something(write, capsys):
    skipped = write(make_doc("jax010", [_skip("flax-linen", "flax-linen: flax is not installed")]))
    tested = write(make_doc("torch213", [make_record()]))
    code, out, _ = gate(capsys, skipped, tested, "--no-known-deviations")
    assert code == 1, out
    assert ("run jax010: none of its targets was tested (flax-linen: all 1 records skipped (flax-linen: flax "
            "is not installed))") in out.splitlines()[0]
    assert gate(capsys, tested, "--no-known-deviations")[0] == 0


def test_a_declared_target_without_any_record_counts_as_untested(write, capsys):
    path = write(_declared("jax010", ["flax-nnx"], []))
    code, out, _ = gate(capsys, path, "--no-known-deviations")
    assert code == 1 and "run jax010: none of its declared targets was tested (flax-nnx: no records)" in out


def test_errors_are_grouped_by_target_with_the_most_common_message(write, capsys):
    boom = "setup failed: bnconform.adapters.base.Broken: jax: installed but broken, fails to import: ImportError: no jaxlib"
    records = [make_record(target="jax", framework="jax", verdict="error", message=boom + "\n\ntraceback", dtype=d)
               for d in ("float16", "float32")]
    records.append(make_record(target="jax", framework="jax", verdict="error", dtype="float64",
                               message="RuntimeError: other"))
    path = write(make_doc("jax010", records))
    code, out, _ = gate(capsys, path, "--no-known-deviations")
    assert code == 1
    assert out.splitlines()[0] == "bnconform gate: FAIL (exit 1) - 3 new failure(s), errors in jax [jax010]"
    assert f"  [jax010] jax: 3 error(s): {boom} (+1 other message)" in out.splitlines()


def test_a_backend_imported_at_another_version_than_its_metadata_fails(write, capsys):
    record = make_record(target="keras-jax", framework="keras", version="3.15.1", backend="jax",
                         backend_version="0.10.2", imported_version="3.15.1", imported_backend_version="0.9.2")
    code, out, _ = gate(capsys, write(make_doc("keras315-jax", [record])), "--no-known-deviations")
    assert code == 1
    assert ("imported version differs from the installed metadata: keras-jax [keras315-jax] (jax (backend of "
            "keras) 0.9.2 imported, metadata 0.10.2)") in out.splitlines()[0]


def test_versions_equal_under_pep440_or_files_without_imports_are_not_mismatches(write, capsys):
    same = make_record(version="2.13.0", imported_version="2.13")  # PEP 440: the same release
    old = make_record(dtype="float16")  # written before imported_version existed: nothing to compare
    code, out, _ = gate(capsys, write(make_doc("torch213", [same, old])), "--no-known-deviations")
    assert code == 0, out
    assert "torch 2.13.0  [" in out and "imported" not in out


def _ended(gone_in: str) -> str:
    return f'''
[[deviation]]
id = "torch-ended"
framework = "torch"
versions = ">=2.0,<=2.11.3"
gone_in = "{gone_in}"
property = "bn_forward"
model = "float32_compute"
reason = "a mechanism that the release after 2.11.3 no longer has"
link = "https://example.org/torch/3"
'''


def test_an_entry_past_its_gone_in_release_is_gone_not_stale(write, tmp_path, capsys):
    """A range that ends on purpose (``gone_in``: the first release examined without the mechanism)
    is no warning for results of that release or later; a tested version between the range and
    ``gone_in`` (not examined) still is, and so is an entry without ``gone_in``."""
    kd = tmp_path / "kd.toml"
    path = write(make_doc("torch213", [make_record()]))  # torch 2.13.0
    kd.write_text(_ended("2.12.0"))
    code, out, _ = gate(capsys, path, "--known-deviations", kd, "--strict")
    assert code == 0 and "stale" not in out and "(1 entries: 1 gone)" in out
    kd.write_text(_ended("2.14.0"))  # 2.13.0 lies between the range and gone_in: nobody examined it
    code, out, _ = gate(capsys, path, "--known-deviations", kd, "--strict")
    assert code == 1 and "stale known deviation #1 torch-ended" in out


@pytest.mark.parametrize("gone_in, words", [("2.11.3", "is not above the range"), ("1.9", "is not above the range"),
                                            ("soon", "is not a PEP 440 version")])
def test_a_gone_in_inside_or_below_the_range_is_exit_2(write, tmp_path, capsys, gone_in, words):
    kd = tmp_path / "kd.toml"
    kd.write_text(_ended(gone_in))
    path = write(make_doc("torch213", [make_record()]))
    code, _, err = gate(capsys, path, "--known-deviations", kd)
    assert code == 2 and f"gone_in {gone_in!r} {words}" in err
