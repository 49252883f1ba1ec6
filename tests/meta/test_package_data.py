"""The wheel holds what the packages read at run time, and ``pyproject.toml``'s package data names
no pattern that matches nothing (issue 10: the CIFAR-10 baselines were missing, the report's
patterns matched no file).

The wheel is built from a copy of the tracked files (``git ls-files``), without network or build
isolation, with the setuptools of this environment.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]

#: files the code opens next to itself (``bnconform.cifar.baselines.DEFAULT_PATH``), stated by hand
RUNTIME_DATA = ["bnconform/cifar/baselines/baselines.json"]


def package_data() -> dict[str, list[str]]:
    conf = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return conf["tool"]["setuptools"].get("package-data", {})


def test_every_package_data_pattern_matches_a_file():
    data = package_data()
    assert data, "no package data declared"
    for package, patterns in data.items():
        for pattern in patterns:
            matches = [p for p in (REPO / package).glob(pattern) if p.is_file()]
            assert matches, f"[tool.setuptools.package-data] {package}: {pattern!r} matches no file"


def test_the_baselines_are_where_the_code_looks_for_them():
    from bnconform.cifar.baselines import DEFAULT_PATH

    assert DEFAULT_PATH.resolve() == (REPO / RUNTIME_DATA[0]).resolve() and DEFAULT_PATH.is_file()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    pytest.importorskip("setuptools")
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the tracked files")
    src = tmp_path_factory.mktemp("src")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (REPO / name).is_file():  # a file deleted in the working tree is not copied
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = out.glob("bnconform-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_the_runtime_data_and_no_test_tooling(wheel):
    names = set(wheel.namelist())
    for path in RUNTIME_DATA:
        assert path in names, f"{path} is not in the wheel"
    for package, patterns in package_data().items():
        for pattern in patterns:
            for match in (REPO / package).glob(pattern):
                assert match.relative_to(REPO).as_posix() in names
    assert not any(n.startswith("tests/") for n in names)  # test tooling stays out of the packages
    assert {n.split("/")[0] for n in names if n.endswith(".py")} == {
        "reference", "adapters", "reports", "bnconform", "cifar", "blobs"}
