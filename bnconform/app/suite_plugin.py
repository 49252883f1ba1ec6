"""The conformance suite's pytest plugin: its options, the adapters behind the targets, the results.

Loaded by ``bnconform run`` (``-p bnconform.app.suite_plugin``), by the ``pytest11`` entry point
(:mod:`bnconform.app.pytest_entry`) when pytest is asked to run the suite
(``pytest --pyargs bnconform.conformance``), and by the repository's root ``conftest.py``. It

- adds ``--target``, ``--device``, ``--kernels`` and ``--bn-impl``;
- loads the Hypothesis profiles (:mod:`bnconform.hypothesis_profiles`) and the results plugin
  (:mod:`bnconform.app.results_plugin`: ``--results``, ``--known-deviations``, the ``observe``
  fixture);
- applies the device and the kernel configuration before any framework is imported.

The fixtures and the parametrization of the properties are in the suite's ``conftest.py``.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from bnconform import hypothesis_profiles as profiles

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
profiles.load_default()

pytest_plugins = [
    "bnconform.app.results_plugin"
    if importlib.util.find_spec("bnconform.app.results_plugin") is not None
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
        "--device",
        default=None,
        metavar="DEVICE",
        help="run every adapter on this device: cpu (default) or cuda/gpu, the framework's accelerator "
        "(default: $BNCONFORM_DEVICE, else cpu); a target whose framework sees no such device is skipped "
        "with the reason",
    )
    group.addoption(
        "--kernels",
        default=None,
        metavar="NAME",
        help="run under this CPU kernel configuration (bnconform/engines/kernels.py: default, aten-avx2, aten-default, "
        "onednn-on, onednn-off, ...; default: $BNCONFORM_KERNELS, else default, the path this CPU picks); "
        "a configuration that does not take effect here skips its engine's tests with the measured reason",
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
    from bnconform.adapters import device

    try:  # --device, else $BNCONFORM_DEVICE, else cpu; an unknown name is a usage error
        device.select(config.getoption("--device"))
    except device.UsageError as e:
        raise pytest.UsageError(str(e)) from None
    from bnconform.engines import kernels
    from bnconform.adapters import kernel_paths

    try:  # before any framework is imported: the switches are read at import
        kernel_paths.select(config.getoption("--kernels"))
    except kernels.UsageError as e:
        raise pytest.UsageError(str(e)) from None
    _provide_target_lookups()
    specs = config.getoption("--bn-impl")
    if specs:
        from bnconform.adapters.user_impl import UsageError, register_user_impl

        try:
            config._bnconform_user_targets = [register_user_impl(spec) for spec in specs]
        except UsageError as e:
            raise pytest.UsageError(str(e)) from None


def pytest_report_header(config):
    """With --bn-impl, the part of the batch-norm surface each user's class is not checked on (an
    option its constructor does not accept, a rank it refuses), with the reason
    (``bnconform.adapters.user_surface``); the coverage view records the same."""
    users = getattr(config, "_bnconform_user_targets", None)
    if not users:
        return None
    from bnconform import adapters

    lines = []
    for target in users:
        adapter = adapters.load(target)
        coverage = adapter.coverage()["probes"]
        skipped = [f"  not checked: {name}: {probe['reason']}" for name, probe in coverage.items()
                   if not probe["offered"] and name.startswith("batch_norm ")]
        lines.append(f"bnconform {target}: ranks {list(adapter.capabilities.bn_ranks)}, options drawn "
                     f"{list(adapter.capabilities.bn_flags)}")
        lines += skipped
    return lines


def _provide_target_lookups() -> None:
    """The results plugin records who is behind each target (framework, versions, device); reports
    imports no adapter, so this plugin, which may import everything, hands it the adapters' answers."""
    try:
        from bnconform.reports import targets
    except ImportError:  # the fallback plugin's world: no reports package
        return
    from bnconform import adapters

    targets.provide(describe=adapters.describe, imported=adapters.imported, device=adapters.device_of,
                    kernels=adapters.kernels_of)


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
