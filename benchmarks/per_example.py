"""Per-example cost of the conformance properties, against the bare framework call.

For each installed adapter and property, this draws the examples the ``ci`` profile would draw
and times, per example (medians over examples, each example timed as the median of repeats):

    example   one whole example: materialize the case, the adapter call, the reference, the
              tolerance, the comparison (Hypothesis's own generation is shown apart, per example)
    adapter   the adapter call alone (conversions, building the layer, running it, reading back)
    bare      the framework's own work only: tensors ready, layer built (``Adapter.bare_call``)
    ratio     adapter / bare: what the adapter adds (target: at most 3x)

Run it (not a test; wall-clock numbers belong here, never in assertions):

    python -m benchmarks.per_example [--target NAME ...] [--examples 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from hypothesis import given, settings
from hypothesis import strategies as st

import adapters
from bnconform import cases as C
from bnconform import checks, strategies

PROPERTIES = [
    ("bn_forward", "train", "batch_norm"),
    ("bn_forward", "inference", "batch_norm"),
    ("bn_backward", "train", "batch_norm"),
    ("bn_moving_stats", "train", "batch_norm"),
    ("conv2d", "-", "conv2d"),
    ("pool2d:max", "-", "pool2d"),
    ("pool2d:avg", "-", "pool2d"),
]


def _strategy(prop: str, caps, dtype: str):
    if prop.startswith("bn_"):
        return strategies.bn_cases(caps, dtype=dtype, max_steps=4 if prop == "bn_moving_stats" else 1)
    if prop == "conv2d":
        return strategies.conv_cases(caps, dtype=dtype)
    return strategies.pool_cases(caps, kind=prop.split(":")[1], dtype=dtype)


def _materialize(case):
    return {"batch_norm": C.materialize_bn, "conv2d": C.materialize_conv, "pool2d": C.materialize_pool}[case.op](case)


def _adapter_call(adapter, prop, mode, case, inputs):
    if case.op == "batch_norm":
        run = adapter.bn_train if mode == "train" else adapter.bn_inference
        return lambda: run(case, inputs, grads=prop == "bn_backward")
    if case.op == "conv2d":
        return lambda: adapter.conv2d(case, inputs)
    return lambda: adapter.pool2d(case, inputs)


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up: first-call compilation is reported by the 'example' column, not here
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def measure(adapter, prop: str, mode: str, examples: int, repeats: int, dtype: str = "float32") -> dict | None:
    caps = adapter.capabilities
    check_name = prop.split(":")[0]
    check = checks.CHECKS[check_name]
    rows = {"example": [], "adapter": [], "bare": []}
    seen = {"n": 0, "t0": time.perf_counter()}

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None)
    @given(data=st.data())
    def run(data):
        case = data.draw(_strategy(prop, caps, dtype))
        if adapter.unsupported(case):
            return
        t = time.perf_counter()
        check(adapter, case, mode)
        rows["example"].append(time.perf_counter() - t)
        inputs = _materialize(case)
        rows["adapter"].append(_median_time(_adapter_call(adapter, check_name, mode, case, inputs), repeats))
        try:
            rows["bare"].append(_median_time(adapter.bare_call(check_name, mode, case, inputs), repeats))
        except NotImplementedError:
            pass
        seen["n"] += 1

    run()
    total = time.perf_counter() - seen["t0"]
    if not rows["example"]:
        return None
    med = {k: statistics.median(v) if v else None for k, v in rows.items()}
    per_example_total = total / max(seen["n"], 1)
    return {
        **med,
        "n": seen["n"],
        "ratio": med["adapter"] / med["bare"] if med["bare"] else None,
        "first": rows["example"][0],
        "mean_total": per_example_total,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.per_example", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", help="adapters to measure (default: every installed one)")
    parser.add_argument("--examples", type=int, default=20, help="examples per property (default 20, the ci budget)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per example (default 5)")
    args = parser.parse_args(argv)
    names = args.target or [i.name for i in adapters.discover() if i.missing() is None]
    ms = lambda v: "-" if v is None else f"{1e3 * v:8.2f}"  # noqa: E731
    print(f"{'target':18s} {'property':16s} {'mode':9s} {'n':>3s} {'example':>8s} {'1st ex.':>8s} "
          f"{'all/ex.':>8s} {'adapter':>8s} {'bare':>8s} {'ratio':>6s}   (ms, medians)")
    for name in names:
        try:
            adapter = adapters.load(name)
        except adapters.Unavailable as e:
            print(f"{name:18s} skipped: {e}")
            continue
        for prop, mode, op in PROPERTIES:
            if op not in adapter.capabilities.ops:
                continue
            if op == "batch_norm" and mode not in adapter.capabilities.bn_modes:
                continue
            if prop.startswith("pool2d:") and prop.split(":")[1] not in adapter.capabilities.pool_kinds:
                continue
            r = measure(adapter, prop, mode, args.examples, args.repeats)
            if r is None:
                continue
            ratio = "-" if r["ratio"] is None else f"{r['ratio']:6.2f}"
            print(f"{name:18s} {prop:16s} {mode:9s} {r['n']:3d} {ms(r['example'])} {ms(r['first'])} "
                  f"{ms(r['mean_total'])} {ms(r['adapter'])} {ms(r['bare'])} {ratio}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
