"""A report renders, and the gate decides, with only the project's base dependencies (issue 10).

The commands run in a fresh interpreter whose ``sys.meta_path`` starts with a finder that refuses
every framework and optional dependency (:data:`BLOCKED`): importing one raises
``ModuleNotFoundError`` as on a machine where it is not installed. Run information comes from the
results files alone. Jinja2 and jsonschema are base dependencies and are not refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.reports.demo import write_demo

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ("torch", "tensorflow", "keras", "tf_keras", "jax", "jaxlib", "flax", "optax", "scipy", "PIL")

LAUNCHER = textwrap.dedent('''\
    """Run ``python -m MODULE ARGS`` with the frameworks refused; write what was refused."""
    import json, os, runpy, sys

    BLOCKED = set(json.loads(os.environ["BLOCKED"]))
    refused = []


    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                refused.append(name)
                raise ModuleNotFoundError(f"No module named {name!r} (refused by the test)", name=name)
            return None


    already = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not already, f"imported before the blocker: {already}"
    sys.meta_path.insert(0, Refuse())
    module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        with open(os.environ["REFUSED"], "w") as out:
            reports = sys.modules.get("bnconform.reports")
            json.dump({"refused": refused, "reports": getattr(reports, "__file__", None)}, out)
    ''')


def run_blocked(tmp_path: Path, module: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    import json

    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER, encoding="utf-8")
    refused = tmp_path / f"refused-{module}-{args[0]}.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "BLOCKED": json.dumps(BLOCKED), "REFUSED": str(refused)}
    proc = subprocess.run([sys.executable, str(launcher), module, *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    return proc, json.loads(refused.read_text()) if refused.is_file() else {}


def test_the_blocker_refuses_a_framework(tmp_path):
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "__main__.py").write_text("import numpy\nimport torch\n")
    launcher = tmp_path / "launch.py"
    proc, seen = run_blocked(tmp_path, "probe", "x")
    assert proc.returncode == 1 and "No module named 'torch' (refused by the test)" in proc.stderr
    assert seen["refused"] == ["torch"] and launcher.is_file()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("demo")
    return root, write_demo(root)


@pytest.mark.parametrize("module", ["bnconform.reports", "bnconform"])
def test_a_report_renders_without_any_framework(tmp_path, demo, module):
    root, paths = demo
    out = tmp_path / "site"
    proc, seen = run_blocked(tmp_path, module, "report", *map(str, paths), "-o", str(out),
                             "--known-deviations", str(root / "known_deviations.toml"), "--no-shipped-deviations")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert Path(seen["reports"]).resolve().is_relative_to(REPO)  # the worktree's reports, not another
    assert seen["refused"] == []  # not even tried: nothing on the way depends on a framework
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "</html>" in page
    assert all(p.parent.name in page for p in paths), "every run is on the page"


def test_the_gate_decides_without_any_framework(tmp_path, demo):
    root, paths = demo
    proc, _ = run_blocked(tmp_path, "bnconform.reports", "gate", *map(str, paths),
                          "--known-deviations", str(root / "known_deviations.toml"), "--no-shipped-deviations")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the demo plants one new failure
