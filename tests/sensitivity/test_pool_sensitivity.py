"""The pooling half of the sensitivity table (docs/sensitivity.md), proven: average and global average
pooling in NumPy (``numpy_pool``), honest and with planted bugs, judged by ``checks.judge`` exactly
as a framework's outputs are.

- every honest variant (pairwise, sequential, blocked and float64-accumulated sums, a division or a
  product with the rounded reciprocal) conforms, in every dtype, at small and production sizes;
- each planted bug is caught where the table says so, and conforms where it says the change is below
  what the dtype can tell (a 1e-4 scale is a fifth of float16's u), so table and suite cannot drift.
"""

from __future__ import annotations

import pytest

from bnconform import checks
from bnconform.bounds import reduction

from . import matrix as M
from .numpy_pool import PoolImpl

DTYPES = ("float32", "float16", "bfloat16")
SIZES = ("small", "production")

#: (bug, size, dtype) that the suite catches; every other applicable cell conforms.
CAUGHT = {
    *(("avg divisor k + 1", size, dtype) for size in SIZES for dtype in DTYPES),
    *(("global divisor H*W - 1", size, dtype) for size in SIZES for dtype in DTYPES),
    ("avg scaled by 1 + 1e-4", "small", "float32"),
    ("avg scaled by 1 + 1e-4", "production", "float32"),
    ("global scaled by 1 + 1e-4", "small", "float32"),
    ("global scaled by 1 + 1e-4", "production", "float32"),
    *(("global accumulated in half precision", size, dtype) for size in SIZES for dtype in ("float16", "bfloat16")),
} - {("global divisor H*W - 1", "production", "bfloat16")}  # 1/1,023 = 1e-3, a quarter of bfloat16's u

#: no half precision to accumulate in
NOT_APPLICABLE = {("global accumulated in half precision", size, "float32") for size in SIZES}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", M.POOL_KINDS)
@pytest.mark.parametrize("name", sorted(M.POOL_HONEST))
def test_honest_pooling_conforms(name, kind, dtype, size):
    ok, comparisons = M.pool_verdict(kind, M.POOL_HONEST[name], dtype, size)
    assert ok, "\n".join(c.message() for c in comparisons if not c.ok)


@pytest.mark.parametrize("seed", range(1, 4))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", M.POOL_KINDS)
def test_honest_sequential_pooling_conforms_on_other_draws(kind, dtype, seed):
    ok, comparisons = M.pool_verdict(kind, PoolImpl(sum="sequential"), dtype, "production", seed)
    assert ok, "\n".join(c.message() for c in comparisons if not c.ok)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(M.POOL_PLANTED))
def test_planted_pooling_bug_verdict_matches_the_table(name, dtype, size):
    if (name, size, dtype) in NOT_APPLICABLE:
        pytest.skip(f"{name} changes nothing in {dtype}")
    kind, impl = M.POOL_PLANTED[name]
    ok, comparisons = M.pool_verdict(kind, impl, dtype, size)
    if (name, size, dtype) in CAUGHT:
        assert not ok, f"{name} ({dtype}, {size}) is no longer caught: " + "; ".join(c.message() for c in comparisons)
    else:
        assert ok, f"{name} ({dtype}, {size}) is now caught: update CAUGHT and the table of docs/sensitivity.md"


def test_a_shared_scale_of_pooling_is_caught_only_by_the_statistical_tier():
    # float32 global average over 1,024 values scaled by 1 + 2e-5 (335 u): every output is within its
    # worst-case bound and its probabilistic one, the relative error all 512 outputs share is not
    ok, comparisons = M.pool_verdict("global_avg", PoolImpl(scale=1 + 2e-5), "float32", "production")
    (y,) = comparisons
    assert not ok and y.n_mismatch == 0 and len(y.systematic) == 1
    assert "all outputs: relative error shared by all outputs" in y.message()


def test_the_shared_scale_fit_is_not_made_on_repeated_values(monkeypatch):
    # an "ints" draw (loc + integer): every window's partial sums round alike, so an honest sequential
    # float32 sum is low on every output; the fit is skipped and the element-wise bound judges alone
    case = M.pool_case("global_avg", "float32", "production")
    case = type(case)(**{**case.__dict__, "x": M.C.Values(seed=526, dist="ints", loc=-3.623255352577316)})
    x = M.C.materialize_pool(case)
    y = M.npool.pool(x, "global_avg", "float32", PoolImpl(sum="sequential"))
    example = M.Example("pool2d", case, x, "-", {"y": y})
    assert all(c.ok for c in checks.judge(example))
    # ... and it is the skip that keeps it honest: with the fit forced, the honest sum would fail
    monkeypatch.setattr(reduction, "DISTINCT_FRACTION", 0.0)
    assert not all(c.ok for c in checks.judge(example))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", M.POOL_KINDS)
@pytest.mark.parametrize("values", [dict(dist="constant", loc=0.1), dict(dist="ints", loc=0.3)],
                         ids=["constant 0.1", "ints + 0.3"])
def test_sequential_sums_of_repeated_values_conform(values, kind, dtype):
    """An input of a few repeated values is left to the worst case (``bounds.reduction.varied``): its sequential
    window sums round alike (a float32 global average of 1,024 such values is 100 u low on every
    output), and the statistical tier's independence does not hold. The divisor bugs are still caught
    there: the worst case is tight for a 3 x 3 window."""
    from bnconform import cases as C

    ok, comparisons = M.pool_verdict(kind, PoolImpl(sum="sequential"), dtype, "production",
                                     values=C.Values(seed=0, **values))
    assert ok, "\n".join(c.message() for c in comparisons if not c.ok)
    if kind == "avg":
        bug_ok, _ = M.pool_verdict(kind, PoolImpl(sum="sequential", divisor_offset=1), dtype, "production",
                                   values=C.Values(seed=0, **values))
        assert not bug_ok
