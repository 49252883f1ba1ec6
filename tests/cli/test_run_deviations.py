"""The known deviations in force in ``bnconform run``: the shipped file always, plus the project's own
(``--known-deviations``, ``./bnconform.toml``, ``./pyproject.toml``'s ``[tool.bnconform]``), which
adds entries and disables shipped ones by id (issue 20). A bad project file is exit 2 naming
PATH:LINE before any framework runs.

The runs are real: PyTorch's ``lp_pool2d`` with an odd p, which the shipped entry
``torch-lp-pool-signed`` explains (four tests, one per dtype). Disabled, the four are new failures;
disabled and added back under the project's own id, the project's entry explains them and the
report names its origin.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from bnconform.app import cli

SHIPPED_ID = "torch-lp-pool-signed"
ONLY = ["--", "-k", "pool2d_lp_odd_p"]

OWN_ENTRY = '''
[[{table}]]
id = "my-lp-signed"
target = "torch"
framework = "torch"
versions = ">=2.13,<=2.14.1"
property = "pool2d_lp_odd_p"
op = "pool2d"
kind = "lp"
model = "lp_pool_signed"
params = {{ powers_in_dtype = true }}
reason = "our own record of the signed Lp pooling"
link = "https://github.com/pytorch/pytorch/issues/184037"
'''


def run(project: Path, capsys, *extra: str) -> tuple[int, str, str, list[dict]]:
    """``bnconform run --target torch`` from ``project`` (the current directory), the odd-p tests only."""
    if importlib.util.find_spec("torch") is None:  # only subprocesses import it
        pytest.skip("torch is not installed")
    code = cli.main(["run", "--target", "torch", "--jobs", "1", "--no-progress", *extra, *ONLY])
    out, err = capsys.readouterr()
    path = project / "results" / "torch" / "results.json"
    records = json.loads(path.read_text())["records"] if path.is_file() else []
    return code, out, err, records


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI", "true")
    return tmp_path


def test_the_shipped_entry_explains_the_signed_lp_pooling(project, capsys):
    code, out, _, records = run(project, capsys)
    assert code == 0, out
    assert {r["verdict"] for r in records} == {"known-deviation"} and len(records) == 4
    assert all(list(r["explained"]) == [SHIPPED_ID] for r in records)
    assert "known deviations: shipped " in out


@pytest.mark.parametrize("where", ["bnconform.toml", "pyproject.toml", "--known-deviations"])
def test_a_project_file_disables_a_shipped_entry(project, capsys, where):
    if where == "pyproject.toml":
        (project / "pyproject.toml").write_text(f'[project]\nname = "mine"\n\n[tool.bnconform]\ndisable = ["{SHIPPED_ID}"]\n')
        extra = ()
    else:
        name = "bnconform.toml" if where == "bnconform.toml" else "elsewhere.toml"
        (project / name).write_text(f'disable = ["{SHIPPED_ID}"]\n')
        extra = () if where == "bnconform.toml" else ("--known-deviations", name)
    code, out, _, records = run(project, capsys, *extra)
    assert code == 1, out
    assert {r["verdict"] for r in records} == {"fail"} and len(records) == 4
    assert "FAIL (exit 1) - 4 new failure(s)" in out
    assert f"disables {SHIPPED_ID}" in out


def test_a_project_entry_replaces_a_disabled_one_and_the_report_names_its_origin(project, capsys):
    (project / "bnconform.toml").write_text(f'disable = ["{SHIPPED_ID}"]\n' + OWN_ENTRY.format(table="deviation"))
    code, out, _, records = run(project, capsys)
    assert code == 0, out
    assert {r["verdict"] for r in records} == {"known-deviation"}
    assert all(list(r["explained"]) == ["my-lp-signed"] for r in records)
    page = (project / "report" / "index.html").read_text()
    origin = f"{project / 'bnconform.toml'}:3"
    assert origin in page and "my-lp-signed" in page


def test_a_project_entry_may_not_reuse_a_shipped_id_without_disabling_it(project, capsys):
    (project / "bnconform.toml").write_text(OWN_ENTRY.format(table="deviation").replace("my-lp-signed", SHIPPED_ID))
    code, _, err, records = run(project, capsys)
    assert code == 2 and records == []
    assert f"{project / 'bnconform.toml'}:2: deviation #1 (id {SHIPPED_ID}): a shipped deviation has this id" in err


@pytest.mark.parametrize("text, line, problem", [
    ('disable = ["no-such-entry"]\n', 1, "disable: no shipped deviation has id 'no-such-entry'"),
    ('# mine\n\n[[deviation]]\nid = "x"\nframework = "torch"\nversions = ">=2.13"\nproperty = "pool2d"\n'
     'model = "float32_compute"\nreason = "r"\nlink = "https://example.org"\n', 3,
     "deviation #1 (id x): versions '>=2.13' has no upper bound"),
    ('disable = "torch-lp-pool-signed"\n', 1, "disable must be a list of shipped deviation ids"),
])
def test_a_malformed_project_file_is_exit_2_naming_path_and_line_before_anything_runs(project, capsys, text, line,
                                                                                          problem):
    (project / "bnconform.toml").write_text(text)
    code = cli.main(["run", "--target", "torch", "--results", str(project / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"bnconform run: known deviations: {project / 'bnconform.toml'}:{line}: {problem}" in err
    assert not (project / "r").exists()


def test_a_malformed_pyproject_table_names_its_line(project, capsys):
    (project / "pyproject.toml").write_text(
        '[project]\nname = "mine"\n\n[tool.bnconform]\ndisable = []\n\n' + OWN_ENTRY.format(table="tool.bnconform.deviation")
        .replace('versions = ">=2.13,<=2.14.1"', 'versions = "*"'))
    code = cli.main(["run", "--target", "torch", "--results", str(project / "r")])
    err = capsys.readouterr().err
    assert code == 2 and not (project / "r").exists()
    assert f"{project / 'pyproject.toml'}:8: deviation #1 (id my-lp-signed): versions '*'" in err
