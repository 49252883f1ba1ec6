"""A framework release whose import breaks fails the gate; one that is not installed is a skip.

End to end, as a tox environment runs it: ``python -m pytest bnconform/conformance --target ... --results
R1`` in a subprocess whose PYTHONPATH starts with a temporary directory holding

- a fake ``flax`` package whose ``__init__`` raises ImportError (a jaxlib mismatch), with a
  ``flax-0.99.0.dist-info`` so that the metadata names a release: every test of the flax targets
  is an ``error`` naming the exception, and the gate exits 1 naming the target and the exception,
  alone and beside a torch run that passed (the matrix case);
- a pytest plugin that hides flax (no module, no distribution), as in an environment without it:
  the flax tests skip, and the gate fails the run because none of its declared targets was tested;
- only a ``flax-0.99.0.dist-info`` beside the real flax: the metadata lies about what is imported,
  and the gate exits 1 naming both versions.

The torch run of the matrix is a synthetic results file (tests/reports/conftest.py's builders):
what matters here is that another environment passing does not carry the gate.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnconform.app.reports_cli import main_gate, main_report
from tests.reports.conftest import make_doc, make_record, write_doc
from tests.reports.pagetext import matrix_cells

REPO = Path(__file__).resolve().parents[2]
#: two properties x one mode x one dtype per target: 2 records per target, about a second in all
SELECT = "bn_forward and train and float32 and not production"
JAXLIB = "flax 0.99.0 was built for jaxlib 0.99.0, but jaxlib 0.10.2 is installed (jaxlib mismatch)"


def _dist_info(root: Path, name: str, version: str) -> None:
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def _broken_flax(root: Path) -> Path:
    (root / "flax").mkdir(parents=True)
    (root / "flax" / "__init__.py").write_text(f"raise ImportError({JAXLIB!r})\n")
    _dist_info(root, "flax", "0.99.0")
    return root


def _conformance(tmp_path: Path, pythonpath: Path, name: str, *targets: str, plugin: str | None = None,
                 select: str = SELECT) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the conformance suite on ``targets`` as a tox environment would; (process, results)."""
    results = tmp_path / "results" / name
    cmd = [sys.executable, "-m", "pytest", "bnconform/conformance", "-q", "-p", "no:cacheprovider",
           "--results", str(results), "--run-name", name, "-k", select]
    if plugin:
        cmd += ["-p", plugin]
    for target in targets:
        cmd += ["--target", target]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pythonpath), str(REPO)]), CI="true",
               TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("BNCONFORM_TARGETS", None)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    return proc, json.loads((results / "results.json").read_text())


def _torch_run(tmp_path: Path) -> Path:
    """Another environment of the matrix, which passed."""
    doc = make_doc("torch213", [make_record(), make_record(dtype="float16")])
    doc["run"]["targets"] = ["torch"]
    return write_doc(tmp_path / "results", doc)


def _gate(capsys, *args) -> tuple[int, str]:
    code = main_gate([str(a) for a in args] + ["--no-known-deviations"])
    out, err = capsys.readouterr()
    return code, out + err


def test_a_broken_import_is_an_error_and_fails_the_gate_alone_and_in_a_matrix(tmp_path, capsys):
    fake = _broken_flax(tmp_path / "site")
    proc, doc = _conformance(tmp_path, fake, "jax010", "flax-linen", "flax-nnx")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # errors, not "all skipped"
    assert doc["run"]["targets"] == ["flax-linen", "flax-nnx"]
    records = doc["records"]
    assert sorted(r["target"] for r in records) == ["flax-linen"] * 2 + ["flax-nnx"] * 2
    for record in records:
        assert record["verdict"] == "error", record
        assert f"Broken: {record['target']}: installed but broken, fails to import: ImportError: {JAXLIB}" \
            in record["message"]
        assert record["version"] == "0.99.0"  # what the metadata says ...
        assert record["imported_version"] is None  # ... and that nothing was imported
    # the import raised in flax's own module: the framework's error, not the suite's (reports.error_origin)
    assert all((r["error_origin"], r["raised_in"]) == ("framework", "flax") for r in records)
    assert f"ERRORS flax-linen: 2 error(s) raised in the framework (flax): setup failed: bnconform.adapters.base.Broken: flax-linen: installed but " \
           f"broken, fails to import: ImportError: {JAXLIB}" in proc.stdout

    alone = _gate(capsys, tmp_path / "results" / "jax010")
    torch = _torch_run(tmp_path)
    assert _gate(capsys, torch)[0] == 0  # the other environment passes on its own ...
    matrix = _gate(capsys, tmp_path / "results")  # ... and does not carry the broken one
    for code, out in (alone, matrix):
        assert code == 1, out
        assert out.startswith("bnconform gate: FAIL (exit 1) - 4 new failure(s), errors in flax-linen [jax010], "
                              "flax-nnx [jax010]")
        assert f"[jax010] flax-nnx: 2 error(s) raised in the framework (flax): setup failed: bnconform.adapters.base.Broken: flax-nnx: installed but " \
               f"broken, fails to import: ImportError: {JAXLIB}" in out
        assert "flax 0.99.0 (not imported)" in out
    assert "torch213" in matrix[1]

    assert main_report([str(tmp_path / "results"), "-o", str(tmp_path / "out"), "--no-known-deviations"]) == 0
    html = (tmp_path / "out" / "index.html").read_text()
    cells = matrix_cells(html)
    assert cells[("jax010", "flax-linen", "batch_norm · train")] == {"error": 2}
    assert cells[("torch213", "torch", "batch_norm · train")] == {"pass": 2}
    assert "flax 0.99.0 (not imported)" in html
    assert f"ImportError: {JAXLIB}" in html


def test_bnconform_targets_tells_a_broken_framework_when_asked_to_load(tmp_path):
    fake = _broken_flax(tmp_path / "site")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), str(REPO)]))

    def targets(*args):
        return subprocess.run([sys.executable, "-m", "bnconform", "targets", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)

    quick = targets("flax-linen")
    assert quick.returncode == 0 and "flax-linen         installed (flax 0.99.0)" in quick.stdout
    loaded = targets("--load", "flax-linen", "flax-nnx")
    assert loaded.returncode == 1, loaded.stdout + loaded.stderr
    assert f"flax-nnx           BROKEN: installed but broken, fails to import: ImportError: {JAXLIB}" in loaded.stdout


HIDE_FLAX = '''
"""As if flax were not installed: no module (find_spec returns None) and no distribution."""
import importlib.metadata as metadata
import sys

sys.modules["flax"] = None  # importlib: find_spec() is None, import raises ModuleNotFoundError
_version = metadata.version


def _hidden(name):
    if name.lower() == "flax":
        raise metadata.PackageNotFoundError(name)
    return _version(name)


metadata.version = _hidden
'''


def test_an_environment_whose_declared_targets_were_all_skipped_fails_the_matrix(tmp_path, capsys):
    site = tmp_path / "site"
    site.mkdir()
    (site / "bnfake_hide_flax.py").write_text(HIDE_FLAX)
    proc, doc = _conformance(tmp_path, site, "jax010", "flax-linen", "flax-nnx", plugin="bnfake_hide_flax")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # pytest: all skipped
    assert [r["verdict"] for r in doc["records"]] == ["skip"] * 4
    assert {r["reason"] for r in doc["records"]} == {"flax-linen: flax is not installed",
                                                     "flax-nnx: flax is not installed"}
    assert "NOTHING TESTED: none of the declared targets was tested" in proc.stdout

    _torch_run(tmp_path)
    code, out = _gate(capsys, tmp_path / "results")
    assert code == 1, out
    assert ("run jax010: none of its declared targets was tested (flax-linen: all 2 records skipped "
            "(flax-linen: flax is not installed); flax-nnx: all 2 records skipped (flax-nnx: flax is not "
            "installed))") in out.splitlines()[0]


def test_metadata_that_lies_about_the_imported_release_fails_the_gate(tmp_path, capsys):
    if importlib.util.find_spec("flax") is None:
        pytest.skip("flax is not installed: the real module is what the fake metadata lies about")
    real = importlib.metadata.version("flax")
    site = tmp_path / "site"
    _dist_info(site, "flax", "0.99.0")  # metadata only: `import flax` finds the real one
    proc, doc = _conformance(tmp_path, site, "jax010", "flax-linen", select="conventions")
    assert [r["verdict"] for r in doc["records"]] == ["pass"], proc.stdout + proc.stderr
    (record,) = doc["records"]
    assert (record["version"], record["imported_version"]) == ("0.99.0", real)
    assert f"VERSION MISMATCH flax-linen: imported flax {real}, but the installed distribution's metadata " \
           "says 0.99.0" in proc.stdout
    code, out = _gate(capsys, tmp_path / "results")
    assert code == 1, out
    assert f"imported version differs from the installed metadata: flax-linen [jax010] (flax {real} imported, " \
           "metadata 0.99.0)" in out.splitlines()[0]
    assert f"flax 0.99.0 (imported {real})" in out


@pytest.fixture
def registry(monkeypatch, tmp_path):
    """The adapters' registry and load cache, private to the test, with a broken and an absent target."""
    from bnconform import adapters

    monkeypatch.setattr(adapters, "_REGISTRY", dict(adapters._REGISTRY))
    monkeypatch.setattr(adapters, "_LOADED", {})
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "bnfake_cracked").mkdir()
    (tmp_path / "bnfake_cracked" / "__init__.py").write_text("raise OSError('libcudart.so.13: cannot open')\n")
    importlib.invalidate_caches()
    adapters.register(adapters.AdapterInfo(name="cracked", framework="bnfake_cracked", module="bnfake_cracked",
                                           factory="load", requires=("bnfake_cracked",), family="cracked"))
    adapters.register(adapters.AdapterInfo(name="absent", framework="bnfake_absent", module="bnfake_absent",
                                           factory="load", requires=("bnfake_absent",), family="absent"))
    return adapters


def test_replaying_on_a_broken_framework_is_a_failure_naming_the_exception(registry, capsys):
    from bnconform.app.cli import main

    case = '{"op":"pool2d","kind":"max","x_shape":[1,1,2,2],"window":[1,1],"dtype":"float32"}'
    assert main(["replay", "cracked", "pool2d", "-", case]) == 1
    err = capsys.readouterr().err
    assert "bnconform replay: cracked: installed but broken, fails to import: OSError: libcudart.so.13" in err
    assert main(["replay", "absent", "pool2d", "-", case]) == 2  # not installed: nothing to replay on
    # --json: the same exit codes, and the verdict that tells a broken framework from a failure
    assert main(["replay", "cracked", "pool2d", "-", case, "--json"]) == 1
    record = json.loads(capsys.readouterr().out)
    assert (record["verdict"], record["exit"]) == ("broken", 1) and "OSError: libcudart.so.13" in record["message"]
    assert main(["replay", "absent", "pool2d", "-", case, "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["verdict"] == "usage"


def test_bnconform_run_leaves_out_frameworks_that_are_not_installed_and_refuses_one_asked_for(registry, capsys):
    import pytest

    from bnconform.app.cli import _groups

    groups = _groups(None)
    members = [t for targets in groups.values() for t in targets]
    assert "cracked" in members and "absent" not in members  # a broken one runs: its tests are errors
    assert "not installed, not run: absent (bnfake_absent is not installed)" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"--target: not installed in this environment \(.*\): absent "
                                         r"\(bnfake_absent is not installed\)"):
        _groups(["absent"])  # asked for: a usage error before anything runs
    assert _groups(["cracked"]) == {"cracked": ["cracked"]}  # installed but broken: asked for, it runs
