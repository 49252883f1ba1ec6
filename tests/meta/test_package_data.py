"""The distribution (issue 20): ``python -m build`` makes an sdist and a wheel that ``twine check``
accepts; the wheel holds what the package reads at run time (the report's templates and schema, the
CIFAR-10 baselines, the conformance suite, its pytest configuration and the shipped known deviations)
and nothing of the repository's own tests; one version everywhere; and, installed into a fresh
virtual environment with only PyTorch beside it, ``bnconform run --target torch`` and
``pytest --pyargs bnconform.conformance --target torch`` work from an empty directory and write
nothing into the installed package.

The distribution is built from a copy of the files git would commit (tracked, and untracked ones it
does not ignore), without build isolation, with this environment's setuptools.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import bnconform

REPO = Path(__file__).resolve().parents[2]

#: files the code opens next to itself, stated by hand
RUNTIME_DATA = ["bnconform/cifar/baselines/baselines.json", "bnconform/known_deviations.toml",
                "bnconform/conformance/pytest.ini", "bnconform/conformance/conftest.py",
                "bnconform/reports/schemas/results.schema.json", "bnconform/reports/templates/page.html.j2"]


def package_data() -> dict[str, list[str]]:
    conf = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return conf["tool"]["setuptools"].get("package-data", {})


def _directory(package: str) -> Path:
    return REPO.joinpath(*package.split("."))


def test_every_package_data_pattern_matches_a_file():
    data = package_data()
    assert data, "no package data declared"
    for package, patterns in data.items():
        for pattern in patterns:
            matches = [p for p in _directory(package).glob(pattern) if p.is_file()]
            assert matches, f"[tool.setuptools.package-data] {package}: {pattern!r} matches no file"


def test_the_runtime_files_are_where_the_code_looks_for_them():
    from bnconform.app import cli
    from bnconform.cifar.baselines import DEFAULT_PATH
    from bnconform.reports import known

    assert DEFAULT_PATH.resolve() == (REPO / RUNTIME_DATA[0]).resolve() and DEFAULT_PATH.is_file()
    assert known.SHIPPED.resolve() == (REPO / RUNTIME_DATA[1]).resolve() and known.SHIPPED.is_file()
    assert (cli.SUITE_DIR / "pytest.ini").resolve() == (REPO / RUNTIME_DATA[2]).resolve()


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """``{"wheel": ..., "sdist": ...}`` built by ``python -m build`` from the files git would commit."""
    pytest.importorskip("build")
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the files of the repository")
    src = tmp_path_factory.mktemp("src")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (REPO / name).is_file():  # a file deleted in the working tree is not copied
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir", str(out),
                           str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("bnconform-*.whl")
    (sdist,) = out.glob("bnconform-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_twine_accepts_both(dist):
    pytest.importorskip("twine")
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(dist["wheel"]), str(dist["sdist"])],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2


def test_one_version_everywhere(dist):
    version = bnconform.__version__
    assert dist["wheel"].name.startswith(f"bnconform-{version}-") and dist["sdist"].name == f"bnconform-{version}.tar.gz"
    assert f"## {version} " in (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    from bnconform.app import cli

    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(["--version"])
    assert exit_.value.code == 0


def test_the_wheel_holds_the_runtime_data_the_suite_and_no_test_tooling(dist):
    wheel = zipfile.ZipFile(dist["wheel"])
    names = set(wheel.namelist())
    for path in RUNTIME_DATA:
        assert path in names, f"{path} is not in the wheel"
    for package, patterns in package_data().items():
        for pattern in patterns:
            for match in _directory(package).glob(pattern):
                assert match.relative_to(REPO).as_posix() in names
    suite = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "bnconform" / "conformance").glob("*.py"))
    assert suite and set(suite) <= names
    assert {n.split("/")[0] for n in names if n.endswith(".py")} == {"bnconform"}  # one top-level package
    assert not any(n.startswith(("tests/", "benchmarks/", "docs/")) or "/tests/" in n for n in names)
    meta = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert f"Version: {bnconform.__version__}" in meta and "Classifier: Framework :: Pytest" in meta
    entry_points = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "bnconform = bnconform.app.cli:main" in entry_points and "bnconform = bnconform.app.pytest_entry" in entry_points


def test_the_sdist_carries_the_tests_and_the_docs(dist):
    with tarfile.open(dist["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"README.md", "CHANGELOG.md", "pyproject.toml", "bnconform/known_deviations.toml", "action.yml",
            "tests/meta/test_package_data.py", "docs/design.md"} <= names


# -- installed: a fresh virtual environment with only PyTorch ------------------------------------------

@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> Path:
    """A fresh virtual environment holding the wheel, its dependencies and torch (its ``bin``)."""
    if importlib.util.find_spec("torch") is None:  # only subprocesses import it
        pytest.skip("torch is not installed")
    env = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=300)
    torch_pin = f"torch=={_version('torch')}"
    proc = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", str(dist["wheel"]), torch_pin],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return env / "bin"


def _version(dist_name: str) -> str:
    from importlib.metadata import version

    return version(dist_name).split("+")[0]


def _clean_env() -> dict[str, str]:
    """This environment without what points into the repository or this virtual environment."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "BNCONFORM_TARGETS", "BNCONFORM_KERNELS", "PYTEST_ADDOPTS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _package_files(bin_dir: Path) -> set[str]:
    proc = subprocess.run([str(bin_dir / "python"), "-c", "import bnconform, os; print(os.path.dirname(bnconform.__file__))"],
                          capture_output=True, text=True, check=True, cwd="/")
    root = Path(proc.stdout.strip())
    assert "site-packages" in root.parts, root  # the installed copy, not the repository's
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_bnconform_run_from_an_empty_directory(installed, tmp_path):
    before = _package_files(installed)
    work = tmp_path / "myproj"
    work.mkdir()
    # every property at its small size (production sizes are the conformance tests'): the installed tool from an empty directory
    proc = subprocess.run([str(installed / "bnconform"), "run", "--target", "torch", "--no-progress", "--",
                           "-k", "not test_property_at_production_size"], cwd=work,
                          env=_clean_env(), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "bnconform gate: PASS (exit 0)" in proc.stdout
    assert (work / "report" / "index.html").is_file() and (work / "results" / "torch" / "results.json").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["report", "results"]
    assert _package_files(installed) == before  # nothing written into the installed package
    # a target whose framework is not installed here is a usage error, before anything runs
    absent = subprocess.run([str(installed / "bnconform"), "run", "--target", "keras-tensorflow",
                             "--results", "r2"], cwd=work, env=_clean_env(), capture_output=True, text=True,
                            timeout=300)
    assert absent.returncode == 2 and "--target: not installed in this environment" in absent.stderr
    assert "keras-tensorflow" in absent.stderr and not (work / "r2").exists()
    version = subprocess.run([str(installed / "bnconform"), "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == f"bnconform {bnconform.__version__}"


def test_pytest_pyargs_runs_the_suite_from_an_empty_directory(installed, tmp_path):
    # one property per op (the whole suite from an empty directory is test_bnconform_run_from_an_empty_directory's)
    proc = subprocess.run([str(installed / "python"), "-m", "pytest", "--pyargs", "bnconform.conformance",
                           "--target", "torch", "-q", "-p", "no:cacheprovider", "--results", "out",
                           "-k", "test_property and not production and (bn_forward- or conv2d- or pool2d-)"], cwd=tmp_path,
                          env=_clean_env(), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout and " error" not in proc.stdout
    assert (tmp_path / "out" / "results.json").is_file()
    # without the suite on the command line the entry point adds nothing: a project's own --target is free
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "conftest.py").write_text(
        "def pytest_addoption(parser):\n    parser.addoption('--target')\n    parser.addoption('--device')\n")
    (tmp_path / "proj" / "test_own.py").write_text("def test_own(pytestconfig):\n"
                                                    "    assert pytestconfig.getoption('--target') == 'x'\n")
    own = subprocess.run([str(installed / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--target", "x"],
                         cwd=tmp_path / "proj", env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert own.returncode == 0 and "1 passed" in own.stdout, own.stdout + own.stderr
