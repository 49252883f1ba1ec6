"""A new adapter is one file and one registry line, a new engine one more file: the toy adapter
(``toy_adapter.py``, NumPy in float32) on the toy engine (``toy_engine.py``, NumPy as an engine) is
registered here with that line and that record, placed, probed for its math mode, recorded by the
environment report and grouped by ``bnconform run`` like any target, loaded like any target, and checked by the conformance
checks (``bnconform.checks``) on the cases the strategies draw from its capabilities, under the ``ci``
profile. It passes every property it offers; with a planted bug (its variance or its convolution
swapped for a wrong one) the property that covers it fails. The contract's refusals (an op listed
without its method) come at build or registration time, with the adapter, op and method named.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from bnconform import adapters, engines
from bnconform import reference as R
from bnconform.adapters import AdapterInfo, ContractError, contract, fingerprint
from bnconform import checks, strategies

from . import toy_adapter, toy_engine

CI = settings.get_profile("ci")
ROOT = Path(__file__).resolve().parents[2]

# (property, mode, strategy of the toy's cases) for every property the toy offers
BN = dict(dtype="float32")
PROPERTIES = [
    ("bn_forward", "train", lambda caps: strategies.bn_cases(caps, **BN)),
    ("bn_forward", "inference", lambda caps: strategies.bn_cases(caps, **BN)),
    ("bn_forward_adversarial", "train", lambda caps: strategies.bn_cases(caps, adversarial=True, **BN)),
    ("bn_moving_stats", "train", lambda caps: strategies.bn_cases(caps, max_steps=4, **BN)),
    ("bn_inference_keeps_stats", "inference", lambda caps: strategies.bn_cases(caps, **BN)),
    ("conv2d", "-", lambda caps: strategies.conv_cases(caps, dtype="float32")),
    ("pool2d", "-", lambda caps: strategies.pool_cases(caps, kind="max", dtype="float32")),
    ("pool2d", "-", lambda caps: strategies.pool_cases(caps, kind="avg", dtype="float32")),
    ("pool2d", "-", lambda caps: strategies.pool_cases(caps, kind="global_avg", dtype="float32")),
]


@pytest.fixture
def toy_engine_registered(monkeypatch):
    """The toy engine (``toy_engine.py``) registered in a private copy of the engines' registry."""
    monkeypatch.setattr(engines, "_ENGINES", dict(engines._ENGINES))
    engines.register(toy_engine.ENGINE)
    return toy_engine.ENGINE


@pytest.fixture
def toy(monkeypatch, toy_engine_registered):
    """The toy registered with its one line in a private registry, and loaded as a target is."""
    monkeypatch.setattr(adapters, "_REGISTRY", dict(adapters._REGISTRY))
    monkeypatch.setattr(adapters, "_LOADED", {})
    adapters.register(toy_adapter.INFO)
    return adapters.load("toy")


def verdicts(adapter, prop: str, mode: str, strategy) -> list[bool]:
    """Whether each drawn example passes (``ci`` profile: derandomized, 20 examples)."""
    found = []

    @settings(CI, database=None)
    @given(strategy(adapter.capabilities))
    def run(case):
        with adapter.placed():
            example = checks.run(prop, adapter, case, mode)
        found.append(all(c.ok for c in checks.judge(example)))

    run()
    return found


def test_the_registry_line_loads_it_as_a_target(toy):
    assert isinstance(toy, toy_adapter.ToyAdapter)
    assert adapters.describe("toy")["version"] == np.__version__
    assert adapters.imported("toy") == {"framework": "numpy", "version": np.__version__, "backend": None}
    assert all(isinstance(toy, protocol) for protocol in contract.OP_PROTOCOLS.values())
    assert isinstance(toy, contract.Ops)


@pytest.mark.parametrize("prop, mode, strategy", PROPERTIES,
                         ids=[f"{p}-{m}-{i}" for i, (p, m, _) in enumerate(PROPERTIES)])
def test_the_toy_passes_every_property_it_offers(toy, prop, mode, strategy):
    found = verdicts(toy, prop, mode, strategy)
    assert len(found) >= 10 and all(found), f"{found.count(False)} of {len(found)} examples failed"


def test_a_planted_bessel_corrected_variance_fails_batch_norm(toy, monkeypatch):
    """The variance divided by m - 1 (Bessel's correction) instead of m: the forward pass in training
    mode normalizes with the wrong variance."""
    real = toy_adapter.variance

    def bessel(x, mean, axes):
        m = np.prod([x.shape[a] for a in axes])
        return real(x, mean, axes) * np.float32(m / max(m - 1, 1))

    monkeypatch.setattr(toy_adapter, "variance", bessel)
    found = verdicts(toy, "bn_forward", "train", PROPERTIES[0][2])
    assert not all(found)
    assert all(verdicts(toy, "bn_forward", "inference", PROPERTIES[1][2]))  # inference takes no batch variance


def test_a_planted_flipped_kernel_fails_conv2d(toy, monkeypatch):
    """True convolution (the kernel flipped) instead of cross-correlation."""
    monkeypatch.setattr(toy_adapter, "cross_correlate", R.true_conv2d)
    assert not all(verdicts(toy, "conv2d", "-", PROPERTIES[5][2]))


def test_missing_optional_calls_are_skipped_with_the_reason(toy):
    """No bn_sequence, bn_default or bare_call: each caller says so instead of failing."""
    for optional in contract.OPTIONAL:
        assert contract.lacks(toy, optional) == f"toy does not implement {optional} (bnconform.adapters.contract)"
    found = fingerprint.fingerprint(toy)["probes"]
    assert found["default_eps"] == {"value": None, "evidence": "toy does not implement bn_default (bnconform.adapters.contract)"}
    assert found["momentum_meaning"]["value"] == "keras"  # through bn, which the toy has
    assert found["running_variance"]["value"] == "biased"


class NoConv(toy_adapter.ToyAdapter):
    conv2d = None  # listed in capabilities.ops, not implemented


def test_an_op_listed_without_its_method_fails_when_built():
    with pytest.raises(ContractError, match=r"adapter 'toy' \(NoConv\) lists ops it does not implement: "
                                            r"conv2d needs conv2d\(\)"):
        NoConv()


def test_an_op_listed_without_its_method_fails_at_registration(monkeypatch, toy_engine_registered):
    """An object that is not an ``Adapter`` subclass is checked by ``register`` and by ``load``."""
    monkeypatch.setattr(adapters, "_REGISTRY", dict(adapters._REGISTRY))
    monkeypatch.setattr(adapters, "_LOADED", {})

    class Bare:  # the attributes, and bn only
        name, capabilities = "bare", toy_adapter.CAPABILITIES

        def bn(self, case, inputs, *, training, grads=False):
            raise AssertionError("not called")

    with pytest.raises(ContractError, match="conv2d needs conv2d\\(\\); pool2d needs pool2d\\(\\)"):
        adapters.register(AdapterInfo(name="bare", framework="numpy", module="-", factory="-", requires=("numpy",),
                                      family="bare", engine=toy_engine.NAME), Bare())
    assert "bare" not in [info.name for info in adapters.discover()]
    monkeypatch.setattr(toy_adapter, "load_bare", Bare, raising=False)
    adapters.register(AdapterInfo(name="bare", framework="numpy", module="tests.adapters.toy_adapter", factory="load_bare",
                                  requires=("numpy",), family="bare", engine=toy_engine.NAME))
    with pytest.raises(adapters.Broken, match="fails to build its adapter: ContractError: adapter 'bare'"):
        adapters.load("bare")


def test_the_conformance_suite_runs_it_as_a_target():
    """``pytest bnconform/conformance -p tests.adapters.toy_adapter --target toy``, as a user runs a target:
    every property it offers passes, the others skip with the reason."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    cmd = [sys.executable, "-m", "pytest", "bnconform/conformance/test_properties.py::test_property",
           "-p", "tests.adapters.toy_adapter", "--target", "toy", "-k", "float32 and not adversarial",
           "-q", "-rA", "-p", "no:cacheprovider", "--hypothesis-profile", "ci"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    passed = {line.split("::")[1] for line in out.splitlines() if line.startswith("PASSED ")}
    assert passed == {
        "test_property[toy-bn_forward-float32-train]", "test_property[toy-bn_forward-float32-inference]",
        "test_property[toy-bn_moving_stats-float32-train]", "test_property[toy-bn_inference_keeps_stats-float32-inference]",
        "test_property[toy-conv2d-float32--]", "test_property[toy-pool2d-max-float32--]",
        "test_property[toy-pool2d-avg-float32--]", "test_property[toy-pool2d-global_avg-float32--]",
        "test_property[toy-pool2d_nonfinite-max-float32--]", "test_property[toy-pool2d_nonfinite-avg-float32--]",
    }, out
    for reason in ("toy does not implement bn_sequence (bnconform.adapters.contract)", "toy offers no gradients",
                   "toy does not offer lp pooling"):
        assert reason in out, out


# -- the toy engine: what the engine record alone makes work -----------------------------------------

def test_the_toy_is_placed_by_its_engine(toy):
    assert toy.device_record() == {"platform": "cpu", "name": f"cpu (numpy {np.__version__})"}
    with pytest.raises(adapters.Unavailable, match="toy: device cuda is not available: numpy .* has no accelerator"):
        adapters.load("toy", "cuda")


def test_the_math_mode_of_the_toy_is_read_and_measured_through_its_engine(toy):
    from bnconform.adapters import math_mode

    found = math_mode.probe(toy)
    assert found["settings"] == {"numpy.float32_matmul": "float32"}
    # NumPy in float32 keeps every mantissa bit of the probe's inputs, by default and in full float32
    for mode in ("default", "full_float32"):
        assert found[mode]["value"] == "float32", found[mode]
        assert found["matmul"][mode]["value"] == "float32", found["matmul"][mode]


def test_the_environment_report_records_the_toy_engines_kernel_switch(toy, monkeypatch):
    from bnconform.reports import environment

    monkeypatch.setenv(toy_engine.SWITCH, "plain")
    env = environment.collect_environment()
    assert env["kernel_settings"][toy_engine.SWITCH] == "plain"
    assert env["frameworks"]["numpy"] == np.__version__


def test_the_toy_engines_kernel_path_is_measured_and_named(toy):
    from bnconform.engines import kernels

    assert [c.name for c in kernels.for_engine(toy_engine.NAME)] == ["numpy-plain"]
    assert "numpy-plain" in kernels.names()
    path = adapters.kernels_of("toy")
    assert (path["engine"], path["name"], path["honoured"]) == (toy_engine.NAME, "numpy-plain", True)


def test_bnconform_run_groups_the_toy_as_a_family_of_its_own(toy):
    from bnconform.app.cli import _groups, _kernel_plan

    groups = _groups(["torch", "toy"])
    assert groups["toy"] == ["toy"] and "toy" not in groups["torch"]
    assert _kernel_plan({"toy": ["toy"]}, None) == {"toy": ["default"]}


def test_an_engine_that_is_not_registered_is_an_error_naming_it(monkeypatch):
    monkeypatch.setattr(adapters, "_REGISTRY", dict(adapters._REGISTRY))
    monkeypatch.setattr(adapters, "_LOADED", {})
    monkeypatch.setattr(engines, "_ENGINES", dict(engines._ENGINES))
    engines.unregister(toy_engine.NAME)  # whatever an earlier plugin registered
    adapters.register(toy_adapter.INFO)
    with pytest.raises(engines.UnknownEngine, match="unknown engine 'numpy'"):
        adapters.load("toy")
