"""Fixtures and options of the CIFAR-10 tests.

Options (:mod:`tests.cifar.options`, registered here: pytest reads options from initial conftests,
so they are there for ``pytest tests/cifar``; each has an environment variable too, read otherwise):

- ``--require-data`` (``BNCONFORM_REQUIRE_DATA=1``): missing CIFAR-10 data fails instead of skipping;
- ``--cifar-path PATH`` (``CIFAR10_PATH``): where the data is;
- ``--cifar-profile NAME`` (``BNCONFORM_CIFAR_PROFILE``): the profile the gated tests train (quick).
- ``--cifar-targets T ...`` (``BNCONFORM_CIFAR_TARGETS``, comma-separated): restrict the targets.

Every training run is a record for the results file: it goes to the ``observe`` fixture of the
results plugin (``observe.cifar(record)``) when that plugin is active, and is always appended to
``$BNCONFORM_CIFAR_RESULTS`` (default ``results/cifar-pytest.json``) as well.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bnconform.training.targets import TARGETS, one_per_trainer

from .options import add_options


def pytest_addoption(parser):
    add_options(parser)


def option(config, name: str, env: str, default=None):
    """A command-line option if registered and given, else the environment variable."""
    try:
        value = config.getoption(name)
    except ValueError:  # not registered: this conftest was not an initial one
        value = None
    return value if value is not None else os.environ.get(env, default)


@pytest.fixture(scope="session")
def require_data(pytestconfig) -> bool:
    return str(option(pytestconfig, "--require-data", "BNCONFORM_REQUIRE_DATA", "")).lower() in (
        "1", "true", "yes")


@pytest.fixture(scope="session")
def cifar_path(pytestconfig):
    return option(pytestconfig, "--cifar-path", "CIFAR10_PATH")


@pytest.fixture(scope="session")
def cifar_profile(pytestconfig) -> str:
    return option(pytestconfig, "--cifar-profile", "BNCONFORM_CIFAR_PROFILE", "quick")


def selected_targets(config) -> list[str]:
    value = option(config, "--cifar-targets", "BNCONFORM_CIFAR_TARGETS")
    return [t for t in value.split(",") if t] if value else list(TARGETS)


def gated_targets(config) -> list[str]:
    """The targets the gated profile trains: those named (``--cifar-targets``), else one per trainer
    (``bnconform.training.targets.TARGETS``: torch, Keras, Flax), the first of each in registry order.
    Keras's three backends share one trainer and one model (``keras_trainer``); the backends' batch
    norms are the conformance suite's, and their training runs are checked here by the determinism
    tests (every target), so a plain run gates one Keras backend, keras-tensorflow, where the broken-BN
    control runs too. ``--cifar-targets torch,keras-tensorflow,keras-jax,keras-torch,flax-linen`` gates
    all five (each has a recorded band, docs/cifar10.md#in-ci)."""
    if option(config, "--cifar-targets", "BNCONFORM_CIFAR_TARGETS"):
        return selected_targets(config)
    return one_per_trainer()


def gated_runs(config) -> list[tuple[str, str, bool]]:
    """``(target, arch, bn)`` of every run the gate judges: the profile's matrix on each gated target;
    in a plain run (no ``--cifar-targets``), a target of the broken-BN control is gated by that
    control's correct model B instead (it trains anyway; one gated run per trainer)."""
    profile, named = _profile(config), bool(option(config, "--cifar-targets", "BNCONFORM_CIFAR_TARGETS"))
    runs = []
    for target in gated_targets(config):
        if not named and target in profile.broken_bn_targets:
            runs.append((target, "B", True))
        else:
            runs.extend((target, arch, bn) for arch, bn in profile.matrix)
    return runs


@pytest.fixture(scope="session")
def cifar_data(cifar_path, require_data):
    """The CIFAR-10 data, or a skip (a failure under --require-data) saying where to put it."""
    from bnconform.cifar.dataset import load
    from bnconform.cifar.errors import DataNotFound

    try:
        return load(cifar_path)
    except DataNotFound as exc:
        if require_data:
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def cifar_results_file():
    """This session's CIFAR records, rewritten after each: ``$BNCONFORM_CIFAR_RESULTS`` or
    ``results/cifar-pytest.json`` (readable by ``python -m bnconform.cifar report`` and ``gate``)."""
    path = Path(os.environ.get("BNCONFORM_CIFAR_RESULTS", "results/cifar-pytest.json"))
    doc = {"schema": "bnconform-cifar/1", "command": "pytest", "cifar": []}

    def add(record: dict) -> None:
        doc["cifar"].append(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, path)

    return add


@pytest.fixture
def record_run(request, cifar_results_file):
    """``record_run(record, observe=True)``: hand a training record to the results plugin
    (``observe.cifar``, when the plugin is active) and to this session's CIFAR results file."""

    def record(run: dict, observe: bool = True) -> None:
        if observe:
            try:
                plugin = request.getfixturevalue("observe")
            except pytest.FixtureLookupError:
                plugin = None
            if plugin is not None and hasattr(plugin, "cifar"):
                plugin.cifar(run)
        cifar_results_file({**run, "test_id": request.node.nodeid})

    return record


def _profile(config):
    from bnconform.cifar import profiles

    return profiles.get(option(config, "--cifar-profile", "BNCONFORM_CIFAR_PROFILE", "quick"))


def pytest_generate_tests(metafunc):
    """``cifar_target``: once per selected target; ``gated_run``: once per run the gate judges
    (:func:`gated_runs`); ``broken_target``: once per target the broken-BN check runs on."""
    targets = selected_targets(metafunc.config)
    if "cifar_target" in metafunc.fixturenames:
        metafunc.parametrize("cifar_target", targets)
    if "gated_run" in metafunc.fixturenames:
        metafunc.parametrize("gated_run", gated_runs(metafunc.config),
                             ids=lambda r: f"{r[0]}-{r[1]}-{'BN' if r[2] else 'noBN'}")
    if "broken_target" in metafunc.fixturenames:
        broken = [t for t in _profile(metafunc.config).broken_bn_targets if t in gated_targets(metafunc.config)]
        metafunc.parametrize("broken_target", broken)


@pytest.fixture(scope="session")
def baseline_store():
    from bnconform.cifar.baselines import Store

    return Store.load(os.environ.get("BNCONFORM_CIFAR_BASELINES"))


@pytest.fixture(scope="session")
def profile_runs(pytestconfig, cifar_data, cifar_path, cifar_profile):
    """Every run of the gated profile (its matrix on each selected target, plus the broken-BN runs),
    trained once per session, two worker processes at a time. Keyed by
    ``(target, arch, bn, broken_bn)``; failed runs are under the same key in the second dict."""
    from bnconform.cifar import profiles
    from bnconform.app.runner import run
    from bnconform.cifar.worker import Job

    profile = profiles.get(cifar_profile)
    targets = gated_targets(pytestconfig)
    runs = {(t, a, bn, False) for t, a, bn in gated_runs(pytestconfig)}
    for t in profile.broken_bn_targets:
        if t in targets:
            runs |= {(t, "B", True, False), (t, "B", True, True)}
    # slowest first, so that the two workers finish together
    cost = {"keras-jax": 5, "flax-linen": 4, "keras-torch": 3, "torch": 2, "keras-tensorflow": 1}
    jobs = [Job(target=t, arch=a, bn=bn, profile=profile.name, seed=0, broken_bn=broken,
                cifar_path=cifar_path)
            for t, a, bn, broken in sorted(runs, key=lambda r: (-cost.get(r[0], 0), r))]
    records, errors = {}, {}

    def one(job):
        key = (job.target, job.arch, job.bn, job.broken_bn)
        try:
            records[key] = run(job, timeout=3600)
        except Exception as exc:  # reported by the test that needs this run
            errors[key] = str(exc)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        list(pool.map(one, jobs))
    return records, errors
