"""The registry of targets (``bnconform.adapters.registry.TARGETS``) is the one list of targets and families:
``bnconform run``'s process groups, the tox environments' target lists and the CIFAR-10 / two-blob
trainers agree with it.

The tox environments are read through ``tox config`` (what tox itself sees, factors included); a
tox environment may hold several families (tf* hold keras-tensorflow and tf_keras: both vary with
TensorFlow), never part of one.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnconform import adapters
from bnconform.adapters.registry import TARGETS, AdapterInfo, families

REPO = Path(__file__).resolve().parents[2]


def tox_problems(envs: dict[str, dict[str, str]], infos=TARGETS) -> list[str]:
    """What is wrong with the tox environments' ``set_env`` (``{env: {var: value}}``) against the
    registry ``infos``: a target list that splits a family, names an unknown target or leaves the
    registry's order; a Keras environment whose ``KERAS_BACKEND`` is not its targets' backend; a
    family no environment runs."""
    by_name = {info.name: info for info in infos}
    groups = families(infos)
    order = list(by_name)
    problems, covered = [], set()
    for env, variables in envs.items():
        targets = [t.strip() for t in variables.get("BNCONFORM_TARGETS", "").split(",") if t.strip()]
        if not targets:
            continue
        unknown = [t for t in targets if t not in by_name]
        if unknown:
            problems.append(f"{env}: unknown target(s) {unknown}")
            continue
        for family in {by_name[t].family for t in targets}:
            covered.add(family)
            missing = [t for t in groups[family] if t not in targets]
            if missing:
                problems.append(f"{env}: family {family} without {missing}")
        if targets != sorted(targets, key=order.index):
            problems.append(f"{env}: targets {targets} not in registry order")
        backends = {by_name[t].backend for t in targets if by_name[t].framework == "keras"}
        if backends and {variables.get("KERAS_BACKEND")} != backends:
            problems.append(f"{env}: KERAS_BACKEND={variables.get('KERAS_BACKEND')} for Keras on {sorted(backends)}")
    problems += [f"no tox environment runs family {f}" for f in groups if f not in covered]
    return problems


@pytest.fixture(scope="module")
def tox_set_env() -> dict[str, dict[str, str]]:
    if os.environ.get("CI") and not os.environ.get("BNCONFORM_NO_TOX"):
        import tox  # noqa: F401  - CI installs the dev extra: a missing tox is a failure there
    else:
        pytest.importorskip("tox")

    def tox(*args):
        proc = subprocess.run([sys.executable, "-m", "tox", "-c", str(REPO / "tox.ini"), *args],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    names = ",".join(tox("-l").split())
    conf = json.loads(tox("config", "--format", "json", "-e", names, "-k", "set_env"))
    return {env: c["set_env"] for env, c in conf["env"].items()}


def test_the_tox_environments_run_whole_registry_families(tox_set_env):
    assert len([e for e, v in tox_set_env.items() if v.get("BNCONFORM_TARGETS")]) >= 12
    assert tox_problems(tox_set_env) == []


def test_the_tox_check_catches_a_split_family_a_wrong_backend_and_a_family_left_out():
    good = {"torch1": {"BNCONFORM_TARGETS": "torch,torch-functional"},
            "tf1": {"BNCONFORM_TARGETS": "keras-tensorflow,tf_keras", "KERAS_BACKEND": "tensorflow"},
            "jax1": {"BNCONFORM_TARGETS": "jax,flax-linen,flax-nnx"},
            "kj": {"BNCONFORM_TARGETS": "keras-jax", "KERAS_BACKEND": "jax"},
            "kt": {"BNCONFORM_TARGETS": "keras-torch", "KERAS_BACKEND": "torch"},
            "report": {}}
    assert tox_problems(good) == []
    split = {**good, "jax1": {"BNCONFORM_TARGETS": "jax,flax-linen"}}
    assert tox_problems(split) == ["jax1: family jax without ['flax-nnx']"]
    wrong = {**good, "kj": {"BNCONFORM_TARGETS": "keras-jax", "KERAS_BACKEND": "torch"}}
    assert tox_problems(wrong) == ["kj: KERAS_BACKEND=torch for Keras on ['jax']"]
    without = {k: v for k, v in good.items() if k != "kt"}
    assert tox_problems(without) == ["no tox environment runs family keras-torch"]
    renamed = {**good, "torch1": {"BNCONFORM_TARGETS": "torch,torch-fn"}}
    assert tox_problems(renamed) == ["torch1: unknown target(s) ['torch-fn']",
                                     "no tox environment runs family torch"]


def test_bnconform_run_groups_by_the_registry_families():
    from bnconform.app.cli import _groups

    every = [info.name for info in adapters.discover()]
    # the process groups the README and issue 10 state: torch and its functional API together,
    # JAX with both Flax APIs, each Keras backend alone (Keras fixes it at import), tf_keras alone
    assert _groups(every) == {
        "torch": ["torch", "torch-functional"], "keras-tensorflow": ["keras-tensorflow"],
        "keras-jax": ["keras-jax"], "keras-torch": ["keras-torch"], "tf_keras": ["tf_keras"],
        "jax": ["jax", "flax-linen", "flax-nnx"]}


def _defines_trainer(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.ClassDef) and node.name == "Trainer" for node in tree.body)


@pytest.mark.parametrize("harness", ["cifar", "blobs"])
def test_every_registry_trainer_has_a_module_in_both_harnesses(harness):
    from bnconform.training.targets import TARGETS as trainers

    # the CIFAR-10 and two-blob targets (README): Keras 3 on each backend, PyTorch, Flax linen
    assert sorted(trainers) == ["flax-linen", "keras-jax", "keras-tensorflow", "keras-torch", "torch"]
    for info in TARGETS:
        if info.trainer is None:
            continue
        module = REPO / "bnconform" / harness / "backends" / f"{info.trainer}_trainer.py"
        assert module.is_file() and _defines_trainer(module), f"{info.name}: no Trainer in {module}"
        assert trainers[info.name][1] == info.framework
    assert {name: t[2] for name, t in trainers.items() if t[2]} == {
        "keras-tensorflow": "tensorflow", "keras-jax": "jax", "keras-torch": "torch"}


def test_adapter_info_is_keyword_only_and_states_a_family():
    with pytest.raises(TypeError):
        AdapterInfo("x", "torch", "m", "load", ("torch",))  # noqa: the old positional form
    with pytest.raises(TypeError):
        AdapterInfo(name="x", framework="torch", module="m", factory="load", requires=("torch",))
    assert [i.name for i in adapters.discover()][:2] == ["torch", "torch-functional"]


def test_the_device_family_follows_the_engine():
    # the helper of bnconform.adapters.device that places each target: Keras 3 by its backend, the rest by
    # the array library that computes (tf_keras on TensorFlow, Flax on JAX)
    assert {i.name: i.device_family() for i in TARGETS} == {
        "torch": "torch", "torch-functional": "torch", "keras-tensorflow": "keras-tensorflow",
        "keras-jax": "keras-jax", "keras-torch": "keras-torch", "tf_keras": "tensorflow",
        "jax": "jax", "flax-linen": "jax", "flax-nnx": "jax"}
    user_keras = AdapterInfo(name="user", framework="keras", module="m", factory="-", requires=("keras",),
                             family="user")
    assert user_keras.device_family("torch") == "keras-torch"  # the loaded adapter's backend


def test_the_math_mode_follows_the_engine():
    from types import SimpleNamespace

    from bnconform.adapters import math_mode

    def adapter(name, framework, backend=None):
        return SimpleNamespace(name=name, framework=framework, backend=backend)

    # whose float32 settings (TF32, matmul precision) govern each target
    assert math_mode.family(adapter("flax-nnx", "flax")) == "jax"
    assert math_mode.family(adapter("tf_keras", "tf_keras", "tensorflow")) == "tensorflow"
    assert math_mode.family(adapter("keras-torch", "keras", "torch")) == "torch"
    assert math_mode.family(adapter("torch-functional", "torch")) == "torch"
    assert math_mode.family(adapter("user-keras:m.BN", "keras", "jax")) == "jax"  # not in the registry
