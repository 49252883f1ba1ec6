"""Per-example cost of the conformance properties, against the bare framework call.

For each installed adapter and property the table times (``bnconform.properties``: the rows'
``benchmark`` modes, every pooling kind), this draws examples as the conformance test does (the
row's strategy; 20 per property as the ``ci`` profile, derandomized; one dtype, float32 by default)
and reports, in milliseconds:

    draw      Hypothesis drawing the case (median over examples)
    example   one whole example as the suite runs it, first time: materialize the case, the adapter
              call (compiling, building layers), the reference, the tolerance, the comparison (median)
    in-ex.    the adapter call inside that example, first time (median)
    adapter   the adapter call again, warm: conversions, the cached layer, running it, reading back
    bare      the framework's own work only, warm: tensors ready, layer built (``Adapter.bare_call``)
    ratio     adapter / bare, medians over examples of each example's own ratio (target: at most 3)
    total     the examples' 'example' times summed, in seconds (the property's share of a ci run at
              this dtype, without shrinking)
    jit/ex    JAX targets: XLA compilations per example, and the compile time per example (ms)

``adapter`` and ``bare`` time each example's call ``--repeats`` times after a warm-up call and take
the fastest (the timeit convention: on a shared machine the slower repeats measure other processes);
``example`` and ``in-ex.`` are single first-time runs, as in the suite. A warm repeat that compiles
is reported (it would mean a recompilation per call).

Run it (not a test; wall-clock numbers belong here, never in assertions):

    python -m benchmarks.per_example [--target NAME ...] [--property NAME ...] [--dtype float32]
                                     [--examples 20] [--repeats 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bnconform import adapters
from bnconform.adapters.contract import SupportsBareCall, lacks
from bnconform import cases as C
from bnconform import checks, properties

#: (property row, mode, pooling kind or None): what is timed, from the table.
PROPERTIES = [(row, mode, kind) for row in properties.TABLE for mode in row.benchmark
              for kind in (row.kinds or (None,))]
OPS = {"bn", "conv2d", "pool2d"}  # the contract's ops (bnconform.adapters.contract)


def _materialize(case):
    return {"batch_norm": C.materialize_bn, "conv2d": C.materialize_conv, "pool2d": C.materialize_pool}[case.op](case)


def _adapter_call(adapter, prop, mode, case, inputs):
    if case.op == "batch_norm":
        return lambda: adapter.bn(case, inputs, training=mode == "train", grads=prop == "bn_backward")
    if case.op == "conv2d":
        return lambda: adapter.conv2d(case, inputs)
    return lambda: adapter.pool2d(case, inputs)


class _Timed:
    """The adapter, with the time spent in its op methods added up (the check calls it once)."""

    def __init__(self, adapter):
        self._adapter = adapter
        self.seconds = 0.0

    def __getattr__(self, name):
        attr = getattr(self._adapter, name)
        if name not in OPS:
            return attr

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t

        return timed


def _is_jax(adapter) -> bool:
    return adapter.framework in ("jax", "flax") or adapter.backend == "jax"


@contextlib.contextmanager
def _compiles(adapter):
    """XLA compilations in the block: a list of (name, seconds); always empty for other targets."""
    if not _is_jax(adapter):
        yield []
        return
    import jax

    from bnconform.adapters.jax_common import COMPILE_EVENT

    events: list = []

    def listener(event, duration, **kwargs):
        if event == COMPILE_EVENT:
            events.append((str(kwargs.get("fun_name")), duration))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def _fastest(fn, repeats: int) -> float:
    fn()  # warm-up: caches filled, compilation done (a first call's cost is in 'example')
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return min(samples)


def measure(adapter, prop: properties.Property, mode: str, examples: int, repeats: int, dtype: str = "float32",
            kind: str | None = None) -> dict | None:
    """One row: the property's examples (of pooling ``kind``) timed as described in the module docstring."""
    check_name = prop.name
    rows: dict[str, list] = {k: [] for k in ("draw", "example", "in_example", "adapter", "bare", "ratio",
                                             "compiles", "compile_s", "warm_compiles")}
    bare_missing = []

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data):
        t = time.perf_counter()
        case = data.draw(prop.cases(adapter, dtype, kind))
        drawn = time.perf_counter() - t
        assume(adapter.unsupported(case) is None)
        timed = _Timed(adapter)
        with _compiles(adapter) as events:
            t = time.perf_counter()
            checks.judge(checks.run(check_name, timed, case, mode))
            rows["example"].append(time.perf_counter() - t)
        rows["draw"].append(drawn)
        rows["in_example"].append(timed.seconds)
        rows["compiles"].append(len(events))
        rows["compile_s"].append(sum(d for _, d in events))
        inputs = _materialize(case)
        with adapter.placed(), _compiles(adapter) as warm:  # on the adapter's device, as checks.run does
            rows["adapter"].append(_fastest(_adapter_call(adapter, check_name, mode, case, inputs), repeats))
            if isinstance(adapter, SupportsBareCall):
                rows["bare"].append(_fastest(adapter.bare_call(check_name, mode, case, inputs), repeats))
                rows["ratio"].append(rows["adapter"][-1] / rows["bare"][-1])
            else:
                bare_missing.append(case)
        rows["warm_compiles"].append(len(warm))

    run()
    if not rows["example"]:
        return None
    med = {k: statistics.median(v) if v else None for k, v in rows.items()}
    return {
        **med,
        "n": len(rows["example"]),
        "total": sum(rows["example"]),
        "compiles": sum(rows["compiles"]) / len(rows["example"]) if _is_jax(adapter) else None,
        "compile_s": sum(rows["compile_s"]) / len(rows["example"]) if _is_jax(adapter) else None,
        "warm_compiles": sum(rows["warm_compiles"]),
        "ratio_max": max(rows["ratio"]) if rows["ratio"] else None,
        "bare_missing": len(bare_missing),
    }


def _properties(adapter, chosen, dtype: str):
    """(row, mode, kind) the adapter offers at ``dtype``, as the conformance tests' skips decide."""
    caps = adapter.capabilities
    for prop, mode, kind in PROPERTIES:
        if chosen and prop.name not in chosen:
            continue
        if prop.op not in caps.ops or dtype not in caps.op_dtypes(prop.op):
            continue
        if prop.op == "batch_norm" and mode not in caps.bn_modes:
            continue
        if kind is not None and kind not in caps.pool_kinds:
            continue
        if prop.requires(adapter):
            continue
        yield prop, mode, kind


COLUMNS = (  # header, width, row key, format
    ("target", 17, "target", "s"),
    ("property", 18, "property", "s"),
    ("kind", 10, "kind", "s"),
    ("mode", 9, "mode", "s"),
    ("n", 3, "n", "d"),
    ("draw", 6, "draw", "ms"),
    ("example", 8, "example", "ms"),
    ("in-ex.", 8, "in_example", "ms"),
    ("adapter", 8, "adapter", "ms"),
    ("bare", 8, "bare", "ms"),
    ("ratio", 6, "ratio", ".2f"),
    ("total", 6, "total", ".1f"),
    ("jit/ex", 6, "compiles", ".2f"),
    ("jit ms", 7, "compile_s", "ms"),
)


def _cell(value, fmt: str, width: int) -> str:
    if value is None:
        text = "-"
    elif fmt == "ms":
        text = f"{1e3 * value:.2f}"
    else:
        text = format(value, fmt)
    return text.ljust(width) if fmt == "s" else text.rjust(width)


def format_row(row: dict) -> str:
    return " ".join(_cell(row.get(key), fmt, width) for _, width, key, fmt in COLUMNS).rstrip()


def header() -> str:
    cells = [h.ljust(w) if f == "s" else h.rjust(w) for h, w, _, f in COLUMNS]
    return " ".join(cells) + "\n" + " ".join("-" * w for _, w, _, _ in COLUMNS)


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.per_example", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", help="adapters to measure (default: every installed one)")
    parser.add_argument("--property", action="append",
                        help=f"properties to measure (default: all): {', '.join(dict.fromkeys(p.name for p, _, _ in PROPERTIES))}")
    parser.add_argument("--dtype", default="float32", help="dtype of the cases (default float32)")
    parser.add_argument("--examples", type=int, default=20, help="examples per property (default 20, the ci budget)")
    parser.add_argument("--repeats", type=int, default=5, help="timed warm repeats per example (default 5)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows and the run's settings as JSON")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.property or ()) - {p.name for p, _, _ in PROPERTIES})
    if unknown:
        parser.error(f"--property: not timed: {', '.join(unknown)}; timed: "
                     f"{', '.join(dict.fromkeys(p.name for p, _, _ in PROPERTIES))} (bnconform/properties.py)")
    names = args.target or [i.name for i in adapters.discover() if i.missing() is None]
    started = time.perf_counter()
    meta = {
        "command": " ".join(["python -m benchmarks.per_example", *(argv if argv is not None else sys.argv[1:])]),
        "dtype": args.dtype, "examples": args.examples, "repeats": args.repeats,
        "cpus": os.cpu_count(), "python": platform.python_version(), "load_start": _load(),
    }
    print(f"# {meta['command']}\n# {args.examples} examples per property, dtype {args.dtype}, {args.repeats} warm "
          f"repeats; times in ms (total in s), medians over examples; {meta['cpus']} CPUs, load {meta['load_start']}")
    print(header(), flush=True)
    rows, targets = [], {}
    for name in names:
        t0 = time.perf_counter()
        try:
            adapter = adapters.load(name)
        except adapters.Unavailable as e:
            print(f"{name:17s} skipped: {e}", flush=True)
            targets[name] = {"skipped": str(e)}
            continue
        except adapters.Broken as e:  # installed but failing: nothing to time, and not a skip
            print(f"{name:17s} BROKEN: {e}", flush=True)
            targets[name] = {"broken": str(e)}
            continue
        loaded = time.perf_counter() - t0
        for prop, mode, kind in _properties(adapter, args.property, args.dtype):
            r = measure(adapter, prop, mode, args.examples, args.repeats, args.dtype, kind)
            if r is None:
                continue
            row = {"target": name, "property": prop.name, "kind": kind, "mode": mode, **r}
            rows.append(row)
            print(format_row(row), flush=True)
            if r["warm_compiles"]:
                print(f"  ! {r['warm_compiles']} compilations in warm calls: something recompiles per call", flush=True)
            if r["bare_missing"]:
                print(f"  ! no bare_call for {r['bare_missing']} examples: {lacks(adapter, 'bare_call')}", flush=True)
        targets[name] = {"load_s": loaded, "seconds": time.perf_counter() - t0, "version": adapter.version,
                         "backend": adapter.backend}
    meta.update(load_end=_load(), seconds=time.perf_counter() - started)
    print(f"# {meta['seconds']:.0f} s in all; load {meta['load_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"run": meta, "targets": targets, "rows": rows}, f, indent=1)
    return 1 if any("broken" in t for t in targets.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
