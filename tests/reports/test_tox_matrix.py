"""The tox upgrade matrix as tox.ini configures it: one results directory per environment, labels
and --expect lists that agree with ``tox -l``, the report after every environment, stale results
deleted before an install (so a failed install is reported missing), and the report over a matrix
where one environment's install failed.

The configuration is read through ``tox config`` (tox 4, in the ``dev`` extra), so these tests see
what tox sees, factors and substitutions included.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from bnconform.app.reports_cli import main_gate, main_report

from .conftest import REPO, make_doc, make_record, write_doc

if os.environ.get("CI") and not os.environ.get("BNCONFORM_NO_TOX"):
    import tox  # noqa: F401  - CI installs the dev extra: a missing tox is a failure there
else:
    pytest.importorskip("tox")


def _tox(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "tox", "-c", str(REPO / "tox.ini"), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def tox_conf():
    """(environment names as ``tox -l`` lists them, core config, per-environment config)."""
    names = _tox("-l").split()
    envs = ",".join([*names, "gate"])
    conf = json.loads(_tox("config", "--format", "json", "--core", "-e", envs, "-k",
                           "labels", "commands", "install_command", "depends", "set_env", "deps"))
    return names, conf["tox"], conf["env"]


def _expect(command: str) -> list[str]:
    words = shlex.split(command)
    return words[words.index("--expect") + 1].split(",")


def test_labels_expect_lists_and_depends_cover_the_matrix(tox_conf):
    names, core, env = tox_conf
    assert names[-1] == "report", "a plain tox must end with the report"
    matrix = names[:-1]
    assert len(matrix) >= 12 and "report" not in matrix and "gate" not in names
    labels = core["labels"]
    assert not set(labels["previous"]) & set(labels["latest"])
    assert sorted(labels["previous"] + labels["latest"]) == sorted(matrix)
    assert sorted(labels["upgrade"]) == sorted([*matrix, "report"])
    for name in ("report", "gate"):
        (command,) = env[name]["commands"]
        assert sorted(_expect(command)) == sorted(matrix), name
    assert set(env["report"]["depends"]) == set(matrix)
    assert set(env["gate"]["depends"]) == {*matrix, "report"}


def test_each_environment_writes_results_under_its_own_name_with_the_ci_profile(tox_conf):
    names, _, env = tox_conf
    results = str(REPO / "results")
    for name in names[:-1]:
        conf = env[name]
        (command,) = conf["commands"]
        words = shlex.split(command)
        assert words[words.index("--results") + 1] == f"{results}/{name}", name
        assert words[words.index("--run-name") + 1] == name, name
        assert conf["set_env"]["BNCONFORM_PROFILE"] == "ci", name
        assert conf["set_env"]["BNCONFORM_TARGETS"], name
        assert conf["deps"] and all("==" in dep for dep in conf["deps"]), f"{name}: unpinned {conf['deps']}"
        if any(dep.startswith("torch") for dep in conf["deps"]):
            assert "torch==2.13.0" in conf["deps"] or "torch==2.14.1" in conf["deps"], name


def test_an_install_deletes_old_results_first_and_fails_with_pips_message(tox_conf, tmp_path):
    """A pin that does not exist: pip's message, exit non-zero, and no stale results left."""
    _, _, env = tox_conf
    words = shlex.split(env["torch213"]["install_command"])
    assert words[0] == "python" and words[-1] == "{packages}"
    stale = REPO / "results" / "torch213"
    assert words[-2] == str(stale)
    old = tmp_path / "results" / "torch213"
    old.mkdir(parents=True)
    (old / "results.json").write_text("{}")
    empty = tmp_path / "wheels"
    empty.mkdir()
    command = [sys.executable, *words[1:-2], str(old),
               "--no-index", "--find-links", str(empty), "bnconform-absent==9.9.9"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "No matching distribution found for bnconform-absent==9.9.9" in proc.stderr
    assert not old.exists()


def test_the_report_renders_the_others_and_names_an_environment_whose_install_failed(tox_conf, tmp_path, capsys):
    names, _, env = tox_conf
    matrix = names[:-1]
    results = tmp_path / "results"
    for name in matrix[1:]:
        write_doc(results, make_doc(name, [make_record()]))
    (results / matrix[0]).mkdir()  # what a failed install leaves at most: the directory, no file
    expect = ["--expect", ",".join(_expect(env["report"]["commands"][0])), "--no-known-deviations"]
    assert main_report([str(results), "-o", str(tmp_path / "out"), *expect]) == 0
    out = capsys.readouterr().out
    assert f"{len(matrix) - 1} run(s)" in out
    page = (tmp_path / "out" / "index.html").read_text()
    assert f"no results from {matrix[0]}" in page
    assert all(name in page for name in matrix[1:])
    assert main_gate([str(results), *expect]) == 1
    assert f"no results from {matrix[0]}" in capsys.readouterr().out


def test_the_documented_bad_pin_override_replaces_the_pin_and_keeps_the_cleaning_install(tox_conf):
    """docs/upgrade-matrix.md: ``tox -e torch213 -x testenv.deps=torch==9.9.9`` (the base-section form, which tox 4.11
    applies too; ``testenv:torch213.deps`` is ignored there)."""
    _, _, env = tox_conf
    conf = json.loads(_tox("config", "--format", "json", "-e", "torch213", "-k", "deps", "install_command",
                           "-x", "testenv.deps=torch==9.9.9"))["env"]["torch213"]
    assert conf["deps"] == ["torch==9.9.9"]
    assert conf["install_command"] == env["torch213"]["install_command"]
