"""No false alarm across input regimes: every honest NumPy variant (``matrix.HONEST``) judged on
eight input regimes, two seeds, both sizes, three dtypes and the four batch-norm kinds (2,688
judgements; about 80 s). ``test_sensitivity`` runs four regimes of it at production size.

Run it (not a test):

    python -m tests.sensitivity.regimes
"""

from __future__ import annotations

from bnconform import cases as C

from . import matrix as M

#: name -> ``cases.Values`` of the input: the default, a large offset (the one-pass variance's
#: cancellation), a tiny spread (eps comparable to the variance), a few repeated values plus an offset
#: (partial sums that round alike), and more offsets, integers and uniform draws
REGIMES = {
    "default": dict(dist="normal", loc=0.5, scale=1.5),
    "offset 1e3": dict(dist="normal", loc=1e3, scale=1.0),
    "scale 1e-3": dict(dist="normal", loc=0.0, scale=1e-3),
    "uniform 3": dict(dist="uniform", loc=-2.0, scale=3.0),
    "ints + 0.3": dict(dist="ints", loc=0.3, scale=1.0),
    "ints / 4": dict(dist="ints", loc=0.0, scale=0.25),
    "offset 10": dict(dist="normal", loc=10.0, scale=1.0),
    "uniform 100": dict(dist="uniform", loc=0.0, scale=100.0),
}


def main() -> int:
    judged = failed = 0
    for size in M.SHAPES:
        for dtype in ("float32", "float16", "bfloat16"):
            for regime in REGIMES.values():
                for seed in (1, 2):
                    for kind in ("forward", "backward", "moving", "moving-torch"):
                        for name, impl in M.HONEST.items():
                            ok, comparisons = M.verdict(kind, impl, dtype, size, seed=seed,
                                                        values=C.Values(seed=seed, **regime))
                            judged += 1
                            if not ok:
                                failed += 1
                                first = next(c for c in comparisons if not c.ok)
                                print(f"FALSE ALARM {name} {kind} {dtype} {size} {regime} seed {seed}:\n"
                                      f"{first.message()}", flush=True)
    print(f"{judged} judgements, {failed} false alarms")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
