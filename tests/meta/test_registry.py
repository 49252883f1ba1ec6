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

from bnconform import adapters, engines
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


def read_set_env(ini: Path) -> dict[str, dict[str, str]]:
    """``{env: set_env}`` of every environment of the tox file ``ini``, as tox itself resolves it
    (factors included): one ``tox config`` process."""
    proc = subprocess.run([sys.executable, "-m", "tox", "-c", str(ini), "config", "--format", "json", "-e", "ALL",
                           "-k", "set_env"], cwd=ini.parent, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {env: c["set_env"] for env, c in json.loads(proc.stdout)["env"].items()}


@pytest.fixture(scope="module")
def tox_installed() -> None:
    if os.environ.get("CI") and not os.environ.get("BNCONFORM_NO_TOX"):
        import tox  # noqa: F401  - CI installs the dev extra: a missing tox is a failure there
    else:
        pytest.importorskip("tox", reason="tox is not installed (the dev extra): the tox file cannot be read as tox does")


@pytest.fixture(scope="module")
def tox_set_env(tox_installed) -> dict[str, dict[str, str]]:
    return read_set_env(REPO / "tox.ini")


def test_the_tox_environments_run_whole_registry_families(tox_set_env):
    assert len([e for e, v in tox_set_env.items() if v.get("BNCONFORM_TARGETS")]) >= len(families())
    assert tox_problems(tox_set_env) == []


def _jax_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith("jax{09,010}: BNCONFORM_TARGETS"))


def test_a_tox_file_that_disagrees_with_the_registry_fails_the_check(tox_installed, tmp_path):
    """The check reads the real file: a copy with one target dropped from a family's list, and one
    with a Keras environment on the wrong backend, are each caught, naming the environment."""
    text = (REPO / "tox.ini").read_text(encoding="utf-8")
    line = _jax_line(text)
    dropped = line.rsplit(",", 1)[0]  # the family's last target left out
    gone = line.rsplit(",", 1)[1].strip()
    split = tmp_path / "split" / "tox.ini"
    split.parent.mkdir()
    split.write_text(text.replace(line, dropped), encoding="utf-8")
    problems = tox_problems(read_set_env(split))
    by_name = {info.name: info for info in TARGETS}
    assert problems == [f"{env}: family {by_name[gone].family} without {[gone]}" for env in ("jax09", "jax010")]

    wrong = tmp_path / "backend" / "tox.ini"
    wrong.parent.mkdir()
    wrong.write_text(text.replace("jax: KERAS_BACKEND = jax", "jax: KERAS_BACKEND = torch"), encoding="utf-8")
    problems = tox_problems(read_set_env(wrong))
    assert problems and all("KERAS_BACKEND=torch for Keras on ['jax']" in p for p in problems), problems


def _one_env_per_family(infos=TARGETS) -> dict[str, dict[str, str]]:
    """A tox ``set_env`` built from the registry: one environment per family, its Keras backend set."""
    by_name = {info.name: info for info in infos}
    envs: dict[str, dict[str, str]] = {"report": {}}
    for family, names in families(infos).items():
        env = {"BNCONFORM_TARGETS": ",".join(names)}
        backends = {by_name[n].backend for n in names if by_name[n].framework == "keras"}
        if backends:
            env["KERAS_BACKEND"] = backends.pop()
        envs[f"env-{family}"] = env
    return envs


def test_the_tox_check_catches_a_split_family_a_wrong_backend_and_a_family_left_out():
    good = _one_env_per_family()
    assert tox_problems(good) == []
    big = next(f for f, names in families().items() if len(names) > 1)  # a family of several targets
    names = families()[big]
    split = {**good, f"env-{big}": {"BNCONFORM_TARGETS": ",".join(names[:-1])}}
    assert tox_problems(split) == [f"env-{big}: family {big} without {[names[-1]]}"]
    keras = next(info for info in TARGETS if info.framework == "keras")
    other = next(e.keras_backend for e in engines.all_engines() if e.keras_backend not in (None, keras.backend))
    wrong = {**good, f"env-{keras.family}": {"BNCONFORM_TARGETS": keras.name, "KERAS_BACKEND": other}}
    assert tox_problems(wrong) == [f"env-{keras.family}: KERAS_BACKEND={other} for Keras on {[keras.backend]}"]
    without = {k: v for k, v in good.items() if k != f"env-{keras.family}"}
    assert tox_problems(without) == [f"no tox environment runs family {keras.family}"]
    renamed = {**good, f"env-{big}": {"BNCONFORM_TARGETS": ",".join([*names[:-1], names[-1] + "-x"])}}
    assert tox_problems(renamed) == [f"env-{big}: unknown target(s) {[names[-1] + '-x']}",
                                     f"no tox environment runs family {big}"]
    reordered = {**good, f"env-{big}": {"BNCONFORM_TARGETS": ",".join(reversed(names))}}
    assert tox_problems(reordered) == [f"env-{big}: targets {list(reversed(names))} not in registry order"]


def test_bnconform_run_groups_by_the_registry_families():
    from bnconform.app.cli import _groups

    every = [info.name for info in adapters.discover()]
    groups = _groups(every)
    # every target in exactly one group, the group of its registry family, in registry order
    assert {name: family for family, names in groups.items() for name in names} == {i.name: i.family for i in TARGETS}
    assert all(names == [n for n in every if n in names] for names in groups.values())
    # one pytest process computes on one engine, and holds at most one Keras backend (Keras fixes it at import)
    by_name = {info.name: info for info in TARGETS}
    for names in groups.values():
        assert len({by_name[n].engine for n in names}) == 1, names
        assert len({by_name[n].backend for n in names if by_name[n].framework == "keras"}) <= 1, names


def _defines_trainer(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.ClassDef) and node.name == "Trainer" for node in tree.body)


@pytest.mark.parametrize("harness", ["cifar", "blobs"])
def test_every_registry_trainer_has_a_module_in_both_harnesses(harness):
    from bnconform.training.targets import TARGETS as trainers

    assert trainers, "no registry target has a trainer"
    assert list(trainers) == [info.name for info in TARGETS if info.trainer is not None]
    for info in TARGETS:
        if info.trainer is None:
            continue
        module = REPO / "bnconform" / harness / "backends" / f"{info.trainer}_trainer.py"
        assert module.is_file() and _defines_trainer(module), f"{info.name}: no Trainer in {module}"
        assert trainers[info.name][1] == info.framework
        # a Keras trainer runs on its engine's Keras backend; the others set none
        want = engines.get(info.engine).keras_backend if info.framework == "keras" else None
        assert trainers[info.name][2] == want, info.name


def test_adapter_info_is_keyword_only_and_states_a_family():
    with pytest.raises(TypeError):
        AdapterInfo("x", "torch", "m", "load", ("torch",))  # noqa: the old positional form
    with pytest.raises(TypeError):
        AdapterInfo(name="x", framework="torch", module="m", factory="load", requires=("torch",))
    assert [i.name for i in adapters.discover()][:2] == ["torch", "torch-functional"]


def test_every_target_names_a_known_engine_and_keras_its_backend():
    for info in TARGETS:
        engine = engines.get(info.engine)  # UnknownEngine for a name without a record
        assert info.engine_record() is engine
        if info.framework == "keras":  # Keras 3 on a backend: that backend's engine
            assert info.backend == engine.keras_backend, info.name


def test_a_target_without_a_known_engine_is_an_error_naming_it():
    ghost = AdapterInfo(name="ghost", framework="numpy", module="m", factory="-", requires=("numpy",),
                        family="ghost", engine="nope")
    with pytest.raises(engines.UnknownEngine, match="unknown engine 'nope'; known: torch, tensorflow, jax"):
        ghost.placement("cpu")
    none = AdapterInfo(name="none", framework="numpy", module="m", factory="-", requires=("numpy",), family="none")
    with pytest.raises(engines.UnknownEngine, match="target none names no engine"):
        none.placement("cpu")
    user_keras = AdapterInfo(name="user", framework="keras", module="m", factory="-", requires=("keras",),
                             family="user")
    assert user_keras.engine_name("torch") == "torch"  # the loaded adapter's backend


def test_the_math_mode_follows_the_engine():
    from types import SimpleNamespace

    from bnconform.adapters import math_mode

    def adapter(name, framework, backend=None):
        return SimpleNamespace(name=name, framework=framework, backend=backend)

    # whose float32 settings (TF32, matmul precision) govern each target
    assert math_mode.engine_of(adapter("flax-nnx", "flax")) == "jax"
    assert math_mode.engine_of(adapter("tf_keras", "tf_keras", "tensorflow")) == "tensorflow"
    assert math_mode.engine_of(adapter("keras-torch", "keras", "torch")) == "torch"
    assert math_mode.engine_of(adapter("torch-functional", "torch")) == "torch"
    assert math_mode.engine_of(adapter("user-keras:m.BN", "keras", "jax")) == "jax"  # not in the registry
