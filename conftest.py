"""Root conftest: Hypothesis profiles and the results plugin, for every test directory."""

import importlib.util
import os

from bnconform import profiles

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
profiles.load_default()

pytest_plugins = [
    "reports.pytest_plugin"
    if importlib.util.find_spec("reports.pytest_plugin") is not None
    else "bnconform._observe_fallback"
]


def pytest_addoption(parser):
    group = parser.getgroup("bnconform")
    group.addoption(
        "--target",
        action="append",
        default=[],
        metavar="NAME",
        help="run the conformance properties for this adapter only (repeatable), e.g. torch, keras-jax",
    )
