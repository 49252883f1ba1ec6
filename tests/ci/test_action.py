"""The reusable GitHub Action (``action.yml``) and the pre-commit hook (``.pre-commit-hooks.yaml``):
someone else's CI gating on bnconform (issue 20).

- ``bnconform gate --format markdown`` on a recorded results file (``data/torch-lp-pool-disabled.json``:
  PyTorch 2.13's odd-p ``lp_pool2d`` with the shipped entry disabled, so four new failures beside four
  known deviations) gives the summary the action writes to ``$GITHUB_STEP_SUMMARY``.
- The action's own step scripts run here as the runner would run them (bash, the ``env`` the step
  declares, ``$GITHUB_OUTPUT``, ``$GITHUB_STEP_SUMMARY``, ``$RUNNER_TEMP``), against real PyTorch:
  the gate's exit code comes out as the step output and the last step's status.
- actionlint reads the action's metadata through the workflow that uses it: an input the action does
  not declare is an error.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from bnconform.app import cli  # noqa: E402
from bnconform.reports.gate_markdown import code, escape  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).parent / "data" / "torch-lp-pool-disabled.json"
ACTION = yaml.safe_load((REPO / "action.yml").read_text())


def test_the_summary_of_a_recorded_run(capsys):
    assert cli.main(["gate", str(RECORDED), "--format", "markdown", "--no-known-deviations"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:5] == ["## bnconform gate: FAIL (exit 1)", "", r"- 4 new failure\(s\)", "",
                       "**Verdicts:** 4 fail · 4 known-deviation"]
    assert "| local/torch | complete | 8 | torch 2.13.0\\+cpu |" in out
    assert out[out.index("### New failures (4)") + 2].startswith(
        "- `[local/torch] fail torch 2.13.0+cpu kernels aten-avx2 pool2d (lp)/- float16 pool2d_lp_odd_p (ulp ")
    tests = [line for line in out if line.startswith("  - test: ")]
    assert tests == [f"  - test: `test_conv_pool.py::test_lp_pool2d_odd_p[torch-{d}---lp]`"
                     for d in ("float16", "bfloat16", "float32", "float64")]
    fence = out.index("```sh")
    assert out[fence + 1].startswith("python -m bnconform replay torch pool2d_lp_odd_p - '{") and out[fence + 2] == "```"


def test_text_from_the_results_cannot_break_the_markdown():
    assert escape("a | b <script>x</script>\nnext") == r"a \| b \<script\>x\</script\> next"
    assert code("x `y` z") == "``x `y` z``"


def _step(step_id: str | None = None, name: str | None = None) -> dict:
    steps = ACTION["runs"]["steps"]
    return next(s for s in steps if (step_id and s.get("id") == step_id) or (name and s.get("name") == name))


def _run_step(step: dict, tmp_path: Path, inputs: dict[str, str], outputs: dict[str, str] | None = None):
    """Run a composite step's ``run`` script in bash with its ``env`` (``${{ inputs.X }}`` and
    ``${{ steps.run.outputs.X }}`` substituted) and the runner's files."""
    def value(expr: str) -> str:
        match = re.fullmatch(r"\$\{\{\s*(inputs|steps\.run\.outputs)\.([\w-]+)\s*\}\}", expr)
        if not match:
            return expr
        source = inputs if match.group(1) == "inputs" else (outputs or {})
        default = ACTION["inputs"].get(match.group(2), {}).get("default", "") if match.group(1) == "inputs" else ""
        return source.get(match.group(2), default)

    env = {**os.environ, **{k: value(str(v)) for k, v in step.get("env", {}).items()},
           "RUNNER_TEMP": str(tmp_path / "runner"), "GITHUB_OUTPUT": str(tmp_path / "output"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    (tmp_path / "runner").mkdir(exist_ok=True)
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.parametrize("disabled", [False, True], ids=["shipped entries", "entry disabled"])
def test_the_action_runs_the_suite_writes_the_summary_and_gates(tmp_path, disabled):
    if importlib.util.find_spec("torch") is None:  # only subprocesses import it
        pytest.skip("torch is not installed")
    inputs = {"targets": "torch", "args": "-- -k pool2d_lp_odd_p"}
    if disabled:
        (tmp_path / "mine.toml").write_text('disable = ["torch-lp-pool-signed"]\n')
        inputs["known-deviations"] = "mine.toml"
    proc = _run_step(_step("run"), tmp_path, inputs)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the step records the code; the last step gates
    written = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())
    assert written == {"exit-code": "1" if disabled else "0"}
    summary = (tmp_path / "summary.md").read_text()
    if disabled:
        assert summary.startswith("## bnconform gate: FAIL (exit 1)") and "### New failures (4)" in summary
        assert "disables torch-lp-pool-signed" in summary
    else:
        assert summary.startswith("## bnconform gate: PASS (exit 0)") and "4 known-deviation" in summary
    assert (tmp_path / "runner" / "bnconform" / "report" / "index.html").is_file()  # the uploaded artifact
    gate = _run_step(_step(name="Gate"), tmp_path, inputs, outputs=written)
    assert gate.returncode == (1 if disabled else 0)


def test_the_gate_step_fails_when_the_run_step_left_no_code(tmp_path):
    assert _run_step(_step(name="Gate"), tmp_path, {}, outputs={}).returncode == 2


def test_actionlint_checks_the_inputs_a_workflow_gives_the_action(tmp_path):
    from tests.ci.test_workflows import ACTIONLINT

    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / "action.yml").write_text((REPO / "action.yml").read_text())
    workflow = (REPO / ".github" / "workflows" / "action.yml").read_text()
    assert "targets: jax flax" in workflow
    (tmp_path / ".github" / "workflows" / "a.yml").write_text(workflow.replace("targets: jax flax", "target: jax"))
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    proc = subprocess.run([ACTIONLINT, "-no-color", ".github/workflows/a.yml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and 'input "target" is not defined in action "bnconform gate"' in proc.stdout


def test_the_pre_commit_hook_is_a_valid_bnconform_run_on_dependency_files():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    command = hook["entry"].split()
    assert command[0] == "bnconform" and hook["language"] == "system" and hook["pass_filenames"] is False
    args = cli.build_parser().parse_args(command[1:])
    assert args.func is cli.cmd_run and args.results == ".bnconform/results"
    files = re.compile(hook["files"])
    assert all(files.search(p) for p in ("requirements.txt", "requirements-dev.txt", "pyproject.toml", "uv.lock",
                                         "sub/poetry.lock"))
    assert not any(files.search(p) for p in ("src/model.py", "README.md", "lock.py"))


def test_the_gate_reads_the_project_file_of_the_current_directory(tmp_path, monkeypatch, capsys):
    """Without --known-deviations, ``bnconform gate`` applies ./bnconform.toml: the recorded run's four
    known deviations (``torch-lp-pool-ceil-rescaled``) become new failures once the project disables it."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["gate", str(RECORDED)]) == 1  # the four odd-p failures of the recorded run
    assert "FAIL (exit 1) - 4 new failure(s)" in capsys.readouterr().out
    (tmp_path / "bnconform.toml").write_text('disable = ["torch-lp-pool-signed", "torch-lp-pool-ceil-rescaled"]\n')
    assert cli.main(["gate", str(RECORDED)]) == 1
    out = capsys.readouterr().out
    assert "FAIL (exit 1) - 8 new failure(s)" in out and "disables torch-lp-pool-signed, torch-lp-pool-ceil-rescaled" in out
