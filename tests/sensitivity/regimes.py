"""No false alarm across input regimes: every honest NumPy variant (``matrix.HONEST``) judged on
eight input regimes, two seeds, both sizes, three dtypes and the four batch-norm kinds (2,688
judgements; about 80 s). ``test_sensitivity`` runs four regimes of it at production size.

Run it (not a test):

    python -m tests.sensitivity.regimes
"""

from __future__ import annotations

from bnconform import cases as C

from . import matrix as M

REGIMES = [
    dict(dist="normal", loc=0.5, scale=1.5), dict(dist="normal", loc=1e3, scale=1.0),
    dict(dist="normal", loc=0.0, scale=1e-3), dict(dist="uniform", loc=-2.0, scale=3.0),
    dict(dist="ints", loc=0.3, scale=1.0), dict(dist="ints", loc=0.0, scale=0.25),
    dict(dist="normal", loc=10.0, scale=1.0), dict(dist="uniform", loc=0.0, scale=100.0),
]


def main() -> int:
    judged = failed = 0
    for size in M.SHAPES:
        for dtype in ("float32", "float16", "bfloat16"):
            for regime in REGIMES:
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
