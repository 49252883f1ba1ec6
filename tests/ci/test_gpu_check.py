"""``benchmarks/gpu_check.sh``, kept working without a GPU: the same steps with ``GPU_CHECK_DEVICE=cpu``
(conformance through ``--device``, the math-mode probes, a short CIFAR-10 run through
``python -m bnconform.cifar run --device``, the report and the gate into one folder),
its dry run, the families skipped with their reason on a machine without Keras or TensorFlow, and
the budget that cuts every step's timeout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="gpu_check.sh needs bash and timeout")


def run(out: Path, **env) -> subprocess.CompletedProcess:
    full = dict(os.environ, PYTHON=sys.executable, CI="true", GPU_CHECK_DEVICE="cpu", **env)
    full.pop("BNCONFORM_DEVICE", None)
    return subprocess.run(["bash", str(SCRIPT), str(out)], cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("script", [SCRIPT, SCRIPT.with_name("gpu_prepare.sh")], ids=lambda p: p.name)
def test_the_script_parses(script):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_dry_run_plans_the_installed_families_and_skips_the_others_with_their_reason(tmp_path):
    proc = run(tmp_path / "out", GPU_CHECK_DRY_RUN="1", GPU_CHECK_ASSUME_MISSING="keras tensorflow")
    assert proc.returncode == 0, proc.stderr
    steps = [line.split("\t")[:2] for line in (tmp_path / "out" / "steps.tsv").read_text().splitlines()]
    planned = [name for name, status in steps if status == "dry-run"]
    assert planned == ["facts", "conformance-torch", "math-mode-torch", "conformance-jax", "math-mode-jax", "cifar",
                       "report", "gate"]
    skipped = (tmp_path / "out" / "skipped.txt").read_text()
    for family in ("keras-torch", "keras-jax", "keras-tensorflow"):
        assert f"== {family}: skipped: keras is not installed" in skipped
    assert "== tf_keras: skipped: tensorflow is not installed" in skipped
    assert "cifar" not in skipped
    # the CIFAR-10 targets of the families that ran (flax-linen for jax), model A, one epoch
    assert "-m bnconform.cifar run --profile quick --device cpu --targets torch flax-linen --archs A --bn on --seeds 0 --epochs 1" \
        in proc.stdout
    assert "--device cpu" in proc.stdout and "--target torch --target torch-functional" in proc.stdout
    assert not list((tmp_path / "out" / "results").glob("*/results.json"))


def fake_cifar_folder(tmp_path: Path) -> str:
    """A folder that ``bnconform.cifar.locate`` takes for the extracted official data (never read: no time)."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"")
    return str(folder)


def test_a_spent_budget_runs_nothing_and_says_so(tmp_path):
    proc = run(tmp_path / "out", GPU_CHECK_BUDGET_S="0", GPU_CHECK_FAMILIES="torch", CIFAR10_PATH=fake_cifar_folder(tmp_path))
    assert proc.returncode == 0, proc.stderr
    steps = dict(line.split("\t")[:2] for line in (tmp_path / "out" / "steps.tsv").read_text().splitlines())
    assert steps == {"facts": "no-time", "conformance-torch": "no-time", "math-mode-torch": "no-time", "cifar": "no-time"}
    assert "no results were written" in (tmp_path / "out" / "gate.txt").read_text()


def test_a_cpu_run_writes_results_probes_report_and_gate(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "out"
    # the CIFAR-10 step on a small subset (the data is needed: the CIFAR-10 tests skip without it)
    from bnconform.cifar.dataset import load
    from bnconform.cifar.errors import DataNotFound

    try:
        load(None)
    except DataNotFound as exc:
        pytest.skip(f"the CIFAR-10 step needs the data: {exc}")
    proc = run(out, GPU_CHECK_FAMILIES="torch", GPU_CHECK_PYTEST_ARGS="-k conv2d",
               GPU_CHECK_CIFAR_ARGS="--n-train 300 --n-val 100")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = dict(line.split("\t")[:2] for line in (out / "steps.tsv").read_text().splitlines())
    assert steps == {"facts": "0", "conformance-torch": "0", "math-mode-torch": "0", "cifar": "0", "report": "0",
                     "gate": "0"}, steps
    cifar = json.loads((out / "results" / "cifar" / "results.json").read_text())["cifar"]
    assert [(r["target"], r["arch"], r["bn"], r["seed"], len(r["epochs"])) for r in cifar] == [("torch", "A", True, 0, 1)]
    assert cifar[0]["device"] == {"platform": "cpu", "name": "cpu"} and cifar[0]["images_per_s"] > 0
    assert cifar[0]["determinism"]["use_deterministic_algorithms"] is True
    results = json.loads((out / "results" / "torch" / "results.json").read_text())
    tested = [r for r in results["records"] if r["verdict"] != "skip"]
    assert tested and {json.dumps(r["device"]) for r in tested} == {'{"platform": "cpu", "name": "cpu"}'}
    assert {r["id"].split("::")[1].split("[")[0] for r in tested} == {"test_property", "test_conv2d_full_float32",
                                                                      "test_property_at_production_size"}
    assert {r["property"] for r in tested} == {"conv2d"}
    # what each probe read, one line per target in the output
    assert "torch on cpu: conv2d float32 (full float32 float32), matmul float32 (full float32 float32)" in proc.stdout
    assert "torch-functional on cpu: conv2d n/a (full float32 n/a), matmul float32" in proc.stdout
    probes = json.loads((out / "math_mode" / "torch.json").read_text())
    assert probes["torch"]["default"]["value"] == probes["torch"]["full_float32"]["value"] == "float32"
    assert probes["torch-functional"]["default"]["value"] is None  # offers no conv2d: nothing to measure
    assert (out / "report" / "index.html").is_file()
    assert "PASS" in (out / "gate.txt").read_text()
    assert "torch" in (out / "device_facts.txt").read_text()


def test_missing_cifar_data_skips_the_cifar_step_with_its_reason(tmp_path):
    proc = run(tmp_path / "out", GPU_CHECK_BUDGET_S="0", GPU_CHECK_FAMILIES="torch", CIFAR10_PATH=str(tmp_path / "none"))
    assert proc.returncode == 0, proc.stderr
    skipped = (tmp_path / "out" / "skipped.txt").read_text()
    assert f"== cifar: skipped: CIFAR10_PATH {tmp_path / 'none'} is not a CIFAR-10 archive" in skipped
    steps = [line.split("\t")[0] for line in (tmp_path / "out" / "steps.tsv").read_text().splitlines()]
    assert "cifar" not in steps


def test_a_missing_base_dependency_without_wheels_stops_the_check_naming_it(tmp_path):
    proc = run(tmp_path / "out", GPU_CHECK_ASSUME_MISSING="jsonschema", GPU_CHECK_WHEELS=str(tmp_path / "no-wheels"))
    assert proc.returncode == 2
    assert "jsonschema is not installed" in proc.stderr and "bash benchmarks/gpu_prepare.sh" in proc.stderr
    assert not (tmp_path / "out" / "steps.tsv").read_text()  # no step ran


def write_wheel(folder: Path, module: str) -> Path:
    """A minimal wheel holding an empty top-level ``module`` (PEP 427: the package, METADATA, WHEEL, RECORD)."""
    import zipfile

    folder.mkdir(parents=True)
    info = f"{module}-0.0.dist-info"
    path = folder / f"{module}-0.0-py3-none-any.whl"
    files = {f"{module}/__init__.py": "",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as whl:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            whl.writestr(name, text)
    return path


def test_a_missing_base_dependency_is_installed_from_the_wheels_brought_along(tmp_path):
    wheel = write_wheel(tmp_path / "wheels", "jsonschema")
    proc = run(tmp_path / "out", GPU_CHECK_ASSUME_MISSING="jsonschema", GPU_CHECK_WHEELS=str(wheel.parent),
               GPU_CHECK_BUDGET_S="0", GPU_CHECK_FAMILIES="torch", CIFAR10_PATH=fake_cifar_folder(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "== base dependencies: jsonschema is not installed (GPU_CHECK_ASSUME_MISSING); installing " \
           f"{wheel.name} into " in proc.stdout
    steps = dict(line.split("\t")[:2] for line in (tmp_path / "out" / "steps.tsv").read_text().splitlines())
    assert steps == {"facts": "no-time", "conformance-torch": "no-time", "math-mode-torch": "no-time", "cifar": "no-time"}


def test_the_base_modules_checked_are_the_projects_base_dependencies():
    """gpu_check.sh's BASE_MODULES is pyproject's `dependencies`, as import names (markers for older
    Pythons left out)."""
    import re
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower().replace("-", "_") for d in deps if ";" not in d}
    line = next(l for l in SCRIPT.read_text().splitlines() if l.startswith("BASE_MODULES="))
    assert set(line.split("=", 1)[1].strip('"').split()) == wanted
