"""Root conftest: Hypothesis profiles, the results plugin, and the suite's command-line options."""

import importlib.util
import os

import pytest

from bnconform import profiles

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
profiles.load_default()

pytest_plugins = [
    "pytester",
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
    group.addoption(
        "--bn-impl",
        action="append",
        default=[],
        metavar="FRAMEWORK:MODULE:NAME",
        help="check your own batch-norm class (a drop-in for torch.nn.BatchNorm2d or "
        "keras.layers.BatchNormalization; FRAMEWORK is torch or keras; MODULE importable from "
        "sys.path) against every batch-norm property, alone (repeatable)",
    )


def pytest_configure(config):
    specs = config.getoption("--bn-impl")
    if specs:
        from adapters.user_impl import UsageError, register_user_impl

        try:
            config._bnconform_user_targets = [register_user_impl(spec) for spec in specs]
        except UsageError as e:
            raise pytest.UsageError(str(e)) from None


def pytest_collection_modifyitems(config, items):
    """With --bn-impl, keep only the properties run against the user's classes."""
    users = getattr(config, "_bnconform_user_targets", None)
    if not users:
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        (keep if callspec and callspec.params.get("target") in users else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
