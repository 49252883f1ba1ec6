"""Fixtures and options of the CIFAR-10 tests.

Options (registered here when this conftest is an initial one, e.g. ``pytest tests/cifar``; the root
conftest registers them otherwise; environment variables work either way):

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

from cifar.backends import TARGETS


def pytest_addoption(parser):
    group = parser.getgroup("bnconform-cifar")
    group.addoption("--require-data", action="store_true", default=None,
                    help="fail, instead of skip, the CIFAR-10 tests when the data is missing")
    group.addoption("--cifar-path", default=None, help="CIFAR-10 location (else $CIFAR10_PATH)")
    group.addoption("--cifar-profile", default=None, help="profile of the gated CIFAR tests")
    group.addoption("--cifar-targets", default=None,
                    help="comma-separated targets of the CIFAR tests (default: all)")


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


@pytest.fixture(scope="session")
def cifar_data(cifar_path, require_data):
    """The CIFAR-10 data, or a skip (a failure under --require-data) saying where to put it."""
    from cifar.dataset import load
    from cifar.errors import DataNotFound

    try:
        return load(cifar_path)
    except DataNotFound as exc:
        if require_data:
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture
def record_run(request):
    """``record_run(record)``: hand a training record to the results plugin and to the JSON file."""

    def record(run: dict) -> None:
        try:
            observe = request.getfixturevalue("observe")
        except pytest.FixtureLookupError:
            observe = None
        if observe is not None and hasattr(observe, "cifar"):
            observe.cifar(run)
        path = Path(os.environ.get("BNCONFORM_CIFAR_RESULTS", "results/cifar-pytest.json"))
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = json.loads(path.read_text()) if path.exists() else {
            "schema": "bnconform-cifar/1", "cifar": []}
        doc["cifar"].append({**run, "test_id": request.node.nodeid})
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, path)

    return record


def pytest_generate_tests(metafunc):
    """A test asking for ``cifar_target`` runs once per selected target."""
    if "cifar_target" in metafunc.fixturenames:
        metafunc.parametrize("cifar_target", selected_targets(metafunc.config))
