"""A realistic synthetic set of runs, for looking at the report before real runs exist.

``python tests/reports/demo.py OUT_DIR`` writes ``OUT_DIR/<run>/results.json`` for four
runs (two PyTorch versions, TensorFlow with Keras 3 and tf_keras, JAX with Flax and
Keras 3) and ``OUT_DIR/known_deviations.toml``. The numbers are made up but shaped like
the real ones; one new failure, one known deviation (examples explained by an entry's model),
one entry not reached and one stale entry are planted so that every part of the page shows
something. The browser test
renders it too.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

PROPERTIES = [  # (property, op, pooling kind, modes, dtypes)
    ("bn_forward", "batch_norm", None, ("train", "inference"), ("float32", "float16", "bfloat16")),
    ("bn_backward", "batch_norm", None, ("train",), ("float32", "float16")),
    ("bn_moving_stats", "batch_norm", None, ("train",), ("float32",)),
    ("bn_forward_adversarial", "batch_norm", None, ("train",), ("float32",)),
    ("conv2d_forward", "conv2d", None, ("-",), ("float32", "float16", "bfloat16")),
    ("conv2d_same_padding", "conv2d", None, ("-",), ("float32",)),
    ("max_pool2d_forward", "pool2d", "max", ("-",), ("float32", "bfloat16")),
    ("avg_pool2d_forward", "pool2d", "avg", ("-",), ("float32", "float16")),
]
EPS = {"float32": 2.0 ** -23, "float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}

RUNS = {  # run -> [(target, framework, version, backend)]
    "torch212": [("torch", "torch", "2.12.0+cpu", None)],
    "torch213": [("torch", "torch", "2.13.0+cpu", None)],
    "tf221": [("keras-tensorflow", "keras", "3.15.1", "tensorflow"), ("tf_keras", "tf_keras", "2.21.0", None)],
    "jax010": [("keras-jax", "keras", "3.15.1", "jax"), ("flax-linen", "flax", "0.12.8", None)],
}

KNOWN_DEVIATIONS = '''\
[[deviation]]
id = "flax-linen-one-pass-variance"
target = "flax-linen"
framework = "flax"
versions = ">=0.7,<=0.12.8"
property = "bn_forward_adversarial"
op = "batch_norm"
model = "one_pass_variance"
reason = "one-pass variance E[x^2] - E[x]^2 cancels catastrophically for large offsets"
link = "https://github.com/google/flax/issues/0000"

[[deviation]]
id = "keras-jax-avg-pool-half-sum"
target = "keras-jax"
framework = "keras"
versions = ">=3.0,<=3.15.1"
property = "*pool2d*"
op = "pool2d"
kind = "avg"
dtype = "float16"
model = "half_precision_accumulation"
reason = "window sums accumulated in float16 on the JAX backend"
link = "https://github.com/keras-team/keras/issues/0000"

[[deviation]]
id = "torch-old-moving-variance"
framework = "torch"
versions = "<2.10"
property = "bn_moving_stats"
model = "unbiased_moving_variance"
reason = "momentum=None cumulative average off by one batch"
link = "https://github.com/pytorch/pytorch/issues/0000"
'''


def _record(run, target, framework, version, backend, prop, op, kind, mode, dtype, rng):
    ratio = 10 ** rng.uniform(-2.3, -0.4)
    verdict, message, example, replay, reason = "pass", None, None, None, None
    explained, deviations = {}, []
    case = {"op": op, "shape": [4, 3, 5, 5], "layout": "NCHW", "dtype": dtype, "seed": 0,
            "values": {"kind": "normal", "offset": 0.0}}
    if run == "torch213" and prop == "bn_forward" and mode == "train" and dtype == "float16":
        ratio, verdict = 3.7, "fail"
        case.update(shape=[2, 3, 1, 1], seed=7, values={"kind": "normal", "offset": 30.0})
    if target == "flax-linen" and prop == "bn_forward_adversarial":
        ratio, verdict = 41.0, "known-deviation"
        reason = "one-pass variance E[x^2] - E[x]^2 cancels catastrophically for large offsets"
        explained = {"flax-linen-one-pass-variance": 7}
        deviations = [{"id": "flax-linen-one-pass-variance", "model": "one_pass_variance", "params": {}}]
    if target == "tf_keras" and dtype == "bfloat16" and kind == "max":
        verdict, reason, ratio = "skip", "tf_keras has no bfloat16 max pooling on CPU", None
    if verdict == "fail":
        example = case
        replay = f"python -m bnconform replay {target} '{json.dumps(case, separators=(',', ':'))}'"
        message = (f"AssertionError: {op} {mode} {dtype}: 1 of 18 elements outside tolerance\n"
                   f"  max |err| {ratio * 6e-3:.3g} at (1, 2, 0, 0), max rel {ratio * 2e-3:.3g}, "
                   f"max {ratio * 4:.0f} ULP, err/tol {ratio:.3g}")
    eps = EPS[dtype]
    return {
        "id": f"bnconform/conformance/test_{op}.py::test_{prop}[{target}-{mode}-{dtype}]",
        "property": prop, "target": target, "framework": framework, "version": version, "backend": backend,
        "op": op, "kind": kind, "mode": mode, "dtype": dtype, "verdict": verdict, "reason": reason,
        "examples": 0 if verdict == "skip" else rng.choice([50, 100, 200]),
        "max_abs_error": None if ratio is None else ratio * eps * 8,
        "max_rel_error": None if ratio is None else ratio * eps * 2,
        "max_ulp_error": None if ratio is None else max(0.0, round(ratio * 6)),
        "max_tol_ratio": ratio, "example": example, "message": message, "replay": replay,
        "duration_s": round(rng.uniform(0.2, 4.0), 3),
        "explained": explained, "explained_max_tol_ratio": {k: 0.12 for k in explained},
        "deviations": deviations, "deviation": deviations[0] if deviations else None,
    }


def _fingerprint(target, framework, version, backend):
    torch_like = framework == "torch"
    return {"framework": framework, "version": version, "backend": backend, "probes": {
        "momentum_meaning": {"value": "torch" if torch_like else "keras",
                             "evidence": "new = (1-m)*old + m*batch" if torch_like else "new = m*old + (1-m)*batch"},
        "moving_variance": {"value": "unbiased" if torch_like else "biased",
                            "evidence": "m/(m-1) factor observed" if torch_like else "no Bessel factor"},
        "epsilon_default": {"value": 1e-5 if torch_like else (1e-6 if framework == "flax" else 1e-3),
                            "evidence": "layer default"},
        "momentum_default": {"value": 0.1 if torch_like else 0.99, "evidence": "layer default"},
        "same_padding_odd_pixel": {"value": "end", "evidence": "k=2, s=1 on L=5"},
        "data_format_default": {"value": "NCHW" if torch_like else "NHWC", "evidence": "layer default"},
    }}


def _drift(target, version, rng):
    entries = []
    for op, n in (("batch_norm", 24), ("conv2d", 32), ("pool2d/max", 16)):
        for case_seed in range(3):
            base = random.Random(f"{target}-{op}-{case_seed}")
            values = [round(base.uniform(-3, 3), 6) for _ in range(n)]
            if version.startswith("2.13") and op == "batch_norm":  # a few outputs moved by a few ULP
                values = [math.nextafter(v, math.inf) if i % 5 == 0 else v for i, v in enumerate(values)]
            entries.append({"target": target, "op": op, "case": {"op": op, "seed": case_seed, "n": n},
                            "output": values, "dtype": "float64"})
    return entries


def _cifar(target, framework, version, backend, rng):
    records = []
    for arch in ("A", "B"):
        for bn in (True, False):
            final = (0.74 if bn else 0.66) + (0.03 if arch == "B" else 0.0) + rng.uniform(-0.01, 0.01)
            epochs = []
            for epoch in range(1, 9):
                frac = 1 - math.exp(-epoch / (2.2 if bn else 3.5))
                epochs.append({"epoch": epoch, "loss": round(2.3 - 1.6 * frac + rng.uniform(-0.02, 0.02), 4),
                               "accuracy": round(0.1 + (final + 0.05 - 0.1) * frac, 4),
                               "val_loss": round(2.3 - 1.45 * frac, 4),
                               "val_accuracy": round(0.1 + (final - 0.1) * frac, 4),
                               "images_per_s": round(rng.uniform(2400, 2600) * (1.15 if not bn else 1.0), 1),
                               "seconds": round(rng.uniform(19, 21), 2)})
            mean = (0.745 if bn else 0.665) + (0.03 if arch == "B" else 0.0)
            records.append({"target": target, "framework": framework, "version": version, "backend": backend,
                            "arch": arch, "bn": bn, "profile": "ci", "seed": 0,
                            "data": {"source": "synthetic-cifar10", "sha256": "0" * 64, "n_train": 50000,
                                     "n_test": 10000},
                            "epochs": epochs, "test_accuracy": round(final, 4),
                            "baseline": {"mean": mean, "std": 0.006, "n": 5, "source": "torch 2.12.0 runs"},
                            "threshold": round(mean - 0.03, 4), "margin": 0.03, "verdict": "pass"})
    return records


def demo_results() -> dict[str, dict]:
    """``{run name: results document}``."""
    docs = {}
    for run, targets in RUNS.items():
        rng = random.Random(run)
        records, fingerprints, drift, cifar = [], {}, [], []
        for target, framework, version, backend in targets:
            for prop, op, kind, modes, dtypes in PROPERTIES:
                for mode in modes:
                    for dtype in dtypes:
                        records.append(_record(run, target, framework, version, backend, prop, op, kind, mode, dtype, rng))
            fingerprints[target] = _fingerprint(target, framework, version, backend)
            if framework == "torch":
                drift += _drift(target, version, rng)
            if run in ("torch213", "jax010") and target in ("torch", "keras-jax"):
                cifar += _cifar(target, framework, version, backend, rng)
        frameworks = {"numpy": "2.4.6", "hypothesis": "6.170.15", "ml-dtypes": "0.6.0"}
        for _, framework, version, _ in targets:
            frameworks[framework.replace("_", "-")] = version
        docs[run] = {
            "schema": "bnconform-results/1",
            "run": {"name": run, "started": "2026-11-20T10:00:00+00:00", "finished": "2026-11-20T10:21:40+00:00",
                    "complete": True, "profile": "ci",
                    "command": f"python -m pytest bnconform/conformance --results results/{run} --run-name {run}",
                    "collection_errors": []},
            "environment": {"python": "3.11.7", "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
                            "cpu": "AMD EPYC 7B13", "cpu_count": 2, "gpu": None, "frameworks": frameworks,
                            "pip_freeze": sorted(f"{k}=={v}" for k, v in frameworks.items())},
            "fingerprints": fingerprints, "records": records, "cifar": cifar, "drift": drift,
        }
    return docs


def write_demo(out: Path) -> list[Path]:
    """Write the demo runs and known-deviations file under ``out``; return the results paths."""
    paths = []
    for run, doc in demo_results().items():
        path = out / run / "results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        paths.append(path)
    (out / "known_deviations.toml").write_text(KNOWN_DEVIATIONS, encoding="utf-8")
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/reports/demo.py OUT_DIR")
    for written in write_demo(Path(sys.argv[1])):
        print(written)
