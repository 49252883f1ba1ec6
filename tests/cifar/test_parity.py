"""The initial models compute the same function in every framework.

Each target builds the initial model (the shared NumPy weights, seed 0) and runs it on one batch;
the logits must agree with the float64 forward pass of :mod:`bnconform.cifar.parity` within the float32
rounding-error bound derived there (no chosen tolerance). Agreement of each target with float64
within its bound implies agreement between any two targets within the sum of their bounds.

The control: PyTorch without the NCHW flatten permutation of the first dense kernel computes a
different function, and the same comparison catches it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bnconform.cifar import settings
from bnconform.cifar.archs import build_spec, shapes
from bnconform.cifar.parity import forward_with_bound, parity_batch
from bnconform.app.runner import RunFailed, run
from bnconform.cifar.worker import Job

from .conftest import selected_targets
from bnconform.cifar.weights import flatten_permutation, initial_weights

N = 16
SEED = 0
CONFIGS = (
    {"arch": "A", "bn": True, "training": False},
    {"arch": "A", "bn": False, "training": False},
    {"arch": "B", "bn": True, "training": False},
    {"arch": "B", "bn": False, "training": False},
    {"arch": "A", "bn": True, "training": True},  # BN with batch statistics (A has no dropout)
)


def reference(config):
    spec = build_spec(config["arch"], config["bn"])
    return forward_with_bound(spec, initial_weights(spec, SEED), parity_batch(N),
                              eps=settings.BN_EPSILON, training=config["training"])


def forward_job(target, configs) -> Job:
    return Job(target=target, seed=SEED, task="forward", forward_n=N,
               forward_configs=tuple(configs), progress=False)


UNPERMUTED = tuple({"arch": arch, "bn": True, "training": False, "permute_flatten": False}
                   for arch in ("A", "B"))


@pytest.fixture(scope="module")
def outputs(pytestconfig):
    """The forward passes of every selected target (and the unpermuted PyTorch control), two worker
    processes at a time; keyed by target ("torch-unpermuted" for the control)."""
    targets = selected_targets(pytestconfig)
    jobs = [forward_job(t, CONFIGS) for t in targets]
    names = list(targets)
    if "torch" in targets:
        jobs.append(forward_job("torch", UNPERMUTED))
        names.append("torch-unpermuted")
    results = {}

    def one(item):
        name, job = item
        try:
            results[name] = run(job, timeout=900)
        except RunFailed as exc:
            results[name] = exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, zip(names, jobs)))
    return results


def _result(outputs, name):
    result = outputs[name]
    if isinstance(result, Exception):
        pytest.fail(str(result), pytrace=False)
    return result


def describe(config) -> str:
    return (f"{config['arch']} {'BN' if config['bn'] else 'no-BN'} "
            f"{'training' if config['training'] else 'inference'}")


def test_initial_forward_matches_float64_within_float32_bound(cifar_target, outputs):
    result = _result(outputs, cifar_target)
    report = []
    for out in result["outputs"]:
        logits = np.asarray(out["logits"])
        expected, bound = reference(out)
        assert out["dtype"] == "float32"
        assert logits.shape == expected.shape == (N, 10)
        error = np.abs(logits - expected)
        ratio = float((error / bound).max())
        report.append(f"{describe(out)}: max |error| {error.max():.2e}, bound {bound.min():.2e}.."
                      f"{bound.max():.2e}, error/bound {ratio:.2e}")
        assert (error <= bound).all(), (
            f"{cifar_target} {describe(out)}: {(error > bound).sum()} logits outside the float32 "
            f"bound; max |error| {error.max():.3e}, max error/bound {ratio:.3g}")
    print(f"\n{cifar_target} ({result['versions']}):\n  " + "\n  ".join(report))


def test_the_bound_catches_a_missing_flatten_permutation(outputs):
    """Control: the same check fails for PyTorch without the NCHW flatten permutation."""
    if "torch-unpermuted" not in outputs:
        pytest.skip("torch is not among the selected targets")
    for out in _result(outputs, "torch-unpermuted")["outputs"]:
        expected, bound = reference(out)
        error = np.abs(np.asarray(out["logits"]) - expected)
        assert (error > bound).mean() > 0.5, f"{describe(out)}: the unpermuted model passed"


def _unpermuted(spec, weights):
    """The weights a channels-first framework would use without the flatten permutation, expressed
    back in NHWC: the first dense kernel's rows in the wrong order."""
    flat = next(i for i, layer in enumerate(spec) if layer.kind == "flatten")
    h, w, c = shapes(spec)[flat]
    param_layers = [i for i, layer in enumerate(spec) if layer.kind in ("bn", "conv", "dense")]
    dense = next(k for k, i in enumerate(param_layers) if i > flat and spec[i].kind == "dense")
    out = [dict(p) for p in weights]
    out[dense]["kernel"] = weights[dense]["kernel"][np.argsort(flatten_permutation(h, w, c))]
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=describe)
def test_the_bound_resolves_structural_defects(config):
    """What the bound can and cannot see, in NumPy alone: a flatten permutation left out, or other
    initial weights, put most logits outside it (one outside fails the parity test). The bound is
    worst-case: about 8% of the largest logit in inference and 19% with batch statistics (the sums
    over m = 16,384 values per channel), so it does not resolve small parameter differences such as
    BN epsilon 1e-3 against 1e-5, which moves the initial logits by 0.05%: the layer-level
    conformance tests and the training gate cover those."""
    spec = build_spec(config["arch"], config["bn"])
    weights = initial_weights(spec, SEED)
    expected, bound = reference(config)
    x = parity_batch(N)
    eps, training = settings.BN_EPSILON, config["training"]
    unpermuted, _ = forward_with_bound(spec, _unpermuted(spec, weights), x, eps=eps, training=training)
    other, _ = forward_with_bound(spec, initial_weights(spec, SEED + 1), x, eps=eps,
                                  training=training)
    assert (np.abs(unpermuted - expected) > bound).mean() > 0.5
    assert (np.abs(other - expected) > bound).mean() > 0.5
