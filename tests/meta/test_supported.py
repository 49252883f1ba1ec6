"""The supported releases are declared once (``SUPPORTED`` in ``bnconform/adapters/registry.py``):
pyproject's extras and the README's "Supported releases" table agree with it, and every framework
and Keras backend of the registry has a range."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from bnconform.adapters.registry import SUPPORTED, TARGETS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
#: distributions of the extras that install a framework under another name, or beside it
ALIASES = {"tensorflow-cpu": "tensorflow", "jaxlib": "jax"}
FRAMEWORK_EXTRAS = ("torch", "tensorflow", "jax")


def extras_problems(extras: dict[str, list[str]], supported=SUPPORTED) -> list[str]:
    """Where the framework extras' ranges differ from ``supported``, or leave one out (tf_keras is
    installed by hand beside TensorFlow: README, Installing)."""
    problems, seen = [], set()
    for extra in FRAMEWORK_EXTRAS:
        for text in extras.get(extra, []):
            req = Requirement(text)
            name = ALIASES.get(req.name, req.name)
            seen.add(name)
            if name not in supported:
                problems.append(f"extra {extra}: {req.name} has no supported range")
            elif req.specifier != SpecifierSet(supported[name]):
                problems.append(f"extra {extra}: {req.name}{req.specifier}, supported {supported[name]}")
    missing = sorted(set(supported) - seen - {"tf_keras"})
    if missing:
        problems.append(f"no extra installs {missing}")
    return problems


def readme_table(text: str) -> dict[str, str]:
    section = text.split("Supported releases", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    return {name.strip(): spec.strip() for name, spec in rows[1:]}


def test_the_extras_agree_with_the_registry():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert extras_problems(extras) == []


def test_the_readme_table_agrees_with_the_registry():
    assert readme_table((REPO / "README.md").read_text(encoding="utf-8")) == SUPPORTED


def test_every_framework_and_backend_of_the_registry_has_a_range():
    for info in TARGETS:
        ranges = info.supported()
        assert set(ranges) == {info.framework, *([info.backend] if info.backend else [])}, info.name
        assert all(SpecifierSet(r).contains("999") for r in ranges.values())  # lower bounds only


def test_the_check_catches_a_narrowed_extra_and_one_left_out():
    good = {"torch": ["torch>=2.13"], "tensorflow": ["tensorflow-cpu>=2.15", "keras>=3.0"],
            "jax": ["jax>=0.4.23", "jaxlib>=0.4.23", "flax>=0.10"]}
    assert extras_problems(good) == []
    assert extras_problems({**good, "torch": ["torch>=2.4"]}) == ["extra torch: torch>=2.4, supported >=2.13"]
    assert extras_problems({**good, "jax": ["jax>=0.4.23", "jaxlib>=0.4.30"]}) == [
        "extra jax: jaxlib>=0.4.30, supported >=0.4.23", "no extra installs ['flax']"]
    assert re.search(r"torch \| >=2\.13", (REPO / "README.md").read_text(encoding="utf-8"))
