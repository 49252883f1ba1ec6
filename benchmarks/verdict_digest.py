"""A deterministic digest of verdicts: judge a fixed corpus and write every verdict and ratio to the bit.

A change of the tolerance model that should not change what it decides (a refactoring, reassociated
arithmetic) is checked by writing the digest before and after and comparing the two files:

    python -m benchmarks.verdict_digest --out /tmp/before.json [--examples CAPTURE.pkl.gz ...]
    ... change the model ...
    python -m benchmarks.verdict_digest --out /tmp/after.json  [--examples CAPTURE.pkl.gz ...]
    python -m benchmarks.verdict_digest --diff /tmp/before.json /tmp/after.json

The corpus, judged through the public entry point ``checks.judge``:

- the sensitivity matrix (``benchmarks.sensitivity``): every op and output, small and production
  size, float32, float16 and bfloat16, the correctly rounded answer scaled by (1 + delta) for the
  deltas in ``DELTAS`` (0: the honest answer);
- a few examples that reach the model's other branches: batch norm in inference mode and in
  float64, dx and dbeta perturbed, a moving variance perturbed, max and Lp pooling, a convolution
  without bias in channels_first, inputs of repeated values (the tiers' ``distinct_enough``), and
  the known deviations' numerics (``tolerance.Numerics``: a float32 roundoff, the one-pass variance)
  on the batch-norm examples;
- optionally, the examples a real conformance run judged, as ``benchmarks.verdict_capture`` kept
  them (``--examples``; the frameworks are not called again).

Per example and output: the verdict (``ok``), the number of mismatched elements, the largest
|err| / tol and the tolerance at the largest error (``float.hex``: to the last bit), the statistical
tier's margin (``stat_ratio``, hex) and its findings as the comparison prints them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import pickle
import sys

import numpy as np

from bnconform import cases as C
from bnconform import checks, dtypes
from bnconform import reference as R
from bnconform import tolerance
from bnconform.checks import Example

from . import sensitivity

DELTAS = (0.0, 2.0**-30, 2.0**-24, 2.0**-20, 2.0**-16, 2.0**-12, 2.0**-8, 2.0**-4)
SIZES = ("small", "production")


def _hex(v) -> str | None:
    return None if v is None else float(v).hex()


def digest_of(comparisons) -> list[dict]:
    """What a judgement decides, to the last bit."""
    return [{"name": c.name, "ok": c.ok, "n_mismatch": c.n_mismatch, "max_ratio": _hex(c.max_ratio),
             "tol_at_max_abs": _hex(c.tol_at_max_abs), "stat_ratio": _hex(c.stat_ratio),
             "systematic": list(c.systematic)} for c in comparisons]


def _judged(ex: Example, numerics=None) -> list[dict] | dict:
    try:
        return digest_of(checks.judge(ex, numerics=numerics))
    except Exception as e:  # noqa: BLE001 - an exception is a verdict too, and must not change either
        return {"error": f"{type(e).__name__}: {e}"}


def sensitivity_matrix(sizes=SIZES):
    """(key, example) for the sensitivity matrix: every op, size, dtype and delta."""
    for name, make in sensitivity.OPS.items():
        for size in sizes:
            for dtype in sensitivity.DTYPES:
                at = make(size, dtype)
                for delta in DELTAS:
                    yield f"sensitivity | {name} | {size} | {dtype} | delta {delta.hex()}", at(delta)


def _bn_case(shape, dtype, *, x=None, axis=-1, seed=0):
    return C.BNCase(shape=shape, axis=axis, dtype=dtype, eps=1e-3, momentum=0.9,
                    x=x or C.Values(seed=seed, loc=0.5, scale=1.5), params_seed=seed, steps=2)


def _rounded(a, dtype, delta=0.0, seed=None):
    """The reference rounded to the dtype, scaled by (1 + delta), or with a relative random error."""
    a = np.asarray(a, np.float64)
    if seed is not None:
        a = a * (1 + delta * np.random.default_rng(seed).standard_normal(a.shape))
    else:
        a = a * (1 + delta)
    return dtypes.round_to(a, dtype)


def branches():
    """(key, example, numerics) for the model's branches the sensitivity matrix does not reach."""
    one_pass = tolerance.Numerics(variance="one-pass")
    as_float32 = tolerance.Numerics(roundoff=tolerance.roundoff("float32"))
    repeated = C.Values(seed=3, loc=0.1, dist="ints")
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        for shape, axis, x in (((32, 6), -1, None), ((4, 3, 5, 5), 1, None), ((8, 4, 4, 3), -1, None),
                               ((16, 4, 4, 3), -1, C.Values(seed=8, loc=2.0, constant_feature=1)),
                               ((16, 4, 4, 3), -1, repeated)):
            case = _bn_case(shape, dtype, axis=axis, x=x)
            inputs = C.materialize_bn(case)
            for mode in ("train", "inference"):
                training = mode == "train"
                _, _, _, y = checks.bn_reference(case, inputs, training)
                g = checks.bn_reference_grads(case, inputs, training)
                for delta, seed in ((0.0, None), (2.0**-10, None), (2.0**-14, 1), (2.0**-6, 2)):
                    tag = f"{dtype} | {shape} axis {axis} {x} | {mode} | delta {delta.hex()} seed {seed}"
                    fwd = Example("bn_forward", case, inputs, mode, {"y": _rounded(y, dtype, delta, seed)})
                    bwd = Example("bn_backward", case, inputs, mode,
                                  {k: _rounded(getattr(g, k), dtype, delta, seed) for k in ("dx", "dgamma", "dbeta")})
                    for key, ex in ((f"bn_forward | {tag}", fwd), (f"bn_backward | {tag}", bwd)):
                        yield key, ex, None
                        yield key + " | one-pass", ex, one_pass
                        if dtype == "float64":
                            yield key + " | float32 roundoff", ex, as_float32
            for convention in ("keras", "torch"):
                states = checks.reference_moving_stats(case, inputs, convention)
                for delta, seed in ((0.0, None), (2.0**-12, None), (2.0**-8, 3)):
                    ex = Example("bn_moving_stats", case, inputs, "train",
                                 {"moving_mean": _rounded(states[-1].mean, dtype, delta, seed),
                                  "moving_var": _rounded(states[-1].var, dtype, delta, seed)}, convention=convention)
                    key = f"bn_moving_stats | {dtype} | {shape} axis {axis} {x} | {convention} | delta {delta.hex()} seed {seed}"
                    yield key, ex, None
                    yield key + " | one-pass", ex, one_pass
    for dtype in ("float32", "float16", "bfloat16", "float64"):
        for fmt in ("channels_last", "channels_first"):
            shape = (2, 9, 9, 5) if fmt == "channels_last" else (2, 5, 9, 9)
            for bias, groups, values_ in ((False, 1, C.Values(seed=4, loc=0.5)), (True, 5, C.Values(seed=4, loc=0.5)),
                                          (True, 1, repeated)):
                case = C.ConvCase(x_shape=shape, c_out=5, kernel=(3, 3), bias=bias, groups=groups, dtype=dtype,
                                  data_format=fmt, x=values_)
                inputs = C.materialize_conv(case)
                y = R.conv2d(inputs.x, inputs.w, inputs.b, **case.conv_kwargs())
                for delta, seed in ((0.0, None), (2.0**-12, None), (2.0**-9, 5)):
                    yield (f"conv2d | {dtype} | {fmt} bias {bias} groups {groups} {values_.dist} | delta {delta.hex()} seed {seed}",
                           Example("conv2d", case, inputs, "-", {"y": _rounded(y, dtype, delta, seed)}), None)
            for kind, window, p in (("max", (2, 2), None), ("avg", (3, 3), None), ("lp", (2, 2), 3.0),
                                    ("lp", (3, 3), 2.0), ("global_avg", (1, 1), None)):
                for vi, values_ in enumerate((C.Values(seed=6, loc=0.5), repeated)):
                    case = C.PoolCase(kind=kind, x_shape=shape, window=window,
                                      stride=window if kind != "global_avg" else (1, 1), p=p or 2.0, dtype=dtype,
                                      data_format=fmt, x=values_)
                    x = C.materialize_pool(case)
                    y, _ = checks.reference_pool(case, x)
                    for delta, seed in ((0.0, None), (2.0**-12, None), (2.0**-9, 7)):
                        yield (f"pool2d | {kind} p {p} | {dtype} | {fmt} values {vi} | delta {delta.hex()} seed {seed}",
                               Example("pool2d", case, x, "-", {"y": _rounded(y, dtype, delta, seed)}), None)


def captured(path: str):
    """(key, example) for the examples ``benchmarks.verdict_capture`` kept in ``path``."""
    with gzip.open(path, "rb") as f:
        examples = pickle.load(f)
    for i, ex in enumerate(examples):
        yield f"captured {path.rsplit('/', 1)[-1]} #{i} | {ex.prop} | {ex.mode} | {getattr(ex.case, 'dtype', '-')}", ex


def digest(example_files=(), *, sensitivity_too: bool = True) -> dict:
    out = {}
    if sensitivity_too:
        for key, ex in sensitivity_matrix():
            out[key] = _judged(ex)
        for key, ex, numerics in branches():
            out[key] = _judged(ex, numerics)
    for path in example_files:
        for key, ex in captured(path):
            out[key] = _judged(ex)
    return out


def diff(before: dict, after: dict) -> list[str]:
    """The lines that differ: verdicts first, then anything else."""
    lines = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a != b:
            verdict = (lambda d: None if not isinstance(d, list) else [c["ok"] for c in d])
            kind = "VERDICT" if verdict(a) != verdict(b) else "value"
            lines.append(f"{kind}: {key}\n  before: {a}\n  after:  {b}")
    return sorted(lines, key=lambda s: not s.startswith("VERDICT"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the digest (JSON) here")
    parser.add_argument("--examples", action="append", default=[],
                        help="a capture of a conformance run (benchmarks.verdict_capture); repeatable")
    parser.add_argument("--no-matrix", action="store_true", help="only the captured examples")
    parser.add_argument("--diff", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two digests; exit 1 if they differ")
    args = parser.parse_args(argv)
    if args.diff:
        before, after = (json.load(open(p)) for p in args.diff)
        lines = diff(before, after)
        print("\n".join(lines) if lines else f"identical: {len(before)} examples")
        return 1 if lines else 0
    if not args.out:
        parser.error("--out or --diff")
    result = digest(args.examples, sensitivity_too=not args.no_matrix)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=0, sort_keys=True)
    failing = sum(1 for v in result.values() if not isinstance(v, list) or not all(c["ok"] for c in v))
    print(f"{len(result)} examples, {failing} not conforming, written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
