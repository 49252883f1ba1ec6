"""The sensitivity table (docs/sensitivity.md), proven: planted bugs and honest variants of batch
norm, in NumPy (``numpy_bn``), judged by ``checks.judge`` exactly as a framework's outputs are.

- every honest variant (another summation order, Welford, Chan's blocked merge, float64
  accumulation, a folded affine) conforms, in every dtype, at small and production sizes;
- each planted bug is caught where the table says so, and where it says the bug is below what the
  model can tell from honest rounding, it conforms -- so the published table cannot drift from
  what the suite does (a better model makes this test fail until the table is updated).
"""

from __future__ import annotations

import numpy as np
import pytest

from . import matrix as M

DTYPES = ("float32", "float16", "bfloat16")
SIZES = ("small", "production")
KINDS = ("forward", "backward", "moving", "moving-torch")

#: (bug, size, dtype) that the suite catches; every other applicable cell conforms.
CAUGHT = {
    ("eps 1e-3 instead of 1e-5", "small", "float32"),
    ("eps 1e-3 instead of 1e-5", "production", "float32"),
    ("n-1 in the normalization", "small", "float32"),
    ("n-1 in the normalization", "production", "float32"),
    ("inputs rounded to TF32", "small", "float32"),
    ("inputs rounded to TF32", "production", "float32"),
    ("half-precision accumulation", "production", "float16"),
    ("half-precision accumulation", "production", "bfloat16"),
    ("chan merge without between-block term", "production", "float32"),
    ("backward divides by m-1", "small", "float32"),
    ("momentum off by 1%", "small", "float32"),
    ("momentum off by 1%", "production", "float32"),
    ("biased running variance (torch)", "small", "float32"),
    ("running stats through float16", "small", "float32"),
    ("running stats through float16", "production", "float32"),
}

#: cells where the planted change is not a change: no half precision to accumulate in (float32), a
#: single block (small: m = 144 < numpy_bn.BLOCK), so nothing to merge, TF32 rounding of float16 and
#: bfloat16 values (their significands fit in TF32's 10 bits), float16 rounding of statistics stored
#: in float16. ``test_a_change_that_is_not_one_gives_the_honest_output`` proves each, bit for bit.
NOT_APPLICABLE = (
    {("half-precision accumulation", size, "float32") for size in SIZES}
    | {("chan merge without between-block term", "small", dtype) for dtype in DTYPES}
    | {("inputs rounded to TF32", size, dtype) for size in SIZES for dtype in ("float16", "bfloat16")}
    | {("running stats through float16", size, "float16") for size in SIZES}
)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(M.HONEST))
def test_honest_variant_conforms(name, kind, dtype, size):
    ok, comparisons = M.verdict(kind, M.HONEST[name], dtype, size)
    assert ok, "\n".join(c.message() for c in comparisons if not c.ok)


#: four of ``regimes.REGIMES`` beyond the default, where the model's assumptions are strained
REGIMES = ("offset 1e3", "scale 1e-3", "ints + 0.3", "uniform 100")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("regime", REGIMES)
def test_honest_variants_conform_at_production_size_in_other_regimes(regime, kind, dtype):
    """No false alarm where the model's assumptions are strained (measured: 2,688 judgements of the
    seven variants over eight regimes, two seeds, both sizes, none failed; these are four of them)."""
    from bnconform import cases as C

    from .regimes import REGIMES as ALL_REGIMES

    values = C.Values(seed=1, **ALL_REGIMES[regime])
    for name, impl in M.HONEST.items():
        ok, comparisons = M.verdict(kind, impl, dtype, "production", seed=1, values=values)
        assert ok, f"{name}: " + "\n".join(c.message() for c in comparisons if not c.ok)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(M.PLANTED))
def test_planted_bug_verdict_matches_the_table(name, dtype, size):
    if (name, size, dtype) in NOT_APPLICABLE:
        pytest.skip(f"{name} changes nothing in {dtype} at {size} size (test_a_change_that_is_not_one_...)")
    kind, impl = M.PLANTED[name]
    ok, comparisons = M.verdict(kind, impl, dtype, size)
    if (name, size, dtype) in CAUGHT:
        assert not ok, f"{name} ({dtype}, {size}) is no longer caught: " + "; ".join(c.message() for c in comparisons)
    else:
        assert ok, f"{name} ({dtype}, {size}) is now caught: update CAUGHT and the table of docs/sensitivity.md"


def test_a_systematic_failure_says_so():
    # n-1 at production size in float32: every element within its own tolerance, the per-feature scale not
    ok, comparisons = M.verdict("forward", M.PLANTED["n-1 in the normalization"][1], "float32", "production")
    (y,) = comparisons
    assert not ok and y.n_mismatch == 0 and y.systematic
    assert "Systematic error in 'y'" in y.message() and "per-feature scale of x_hat" in y.message()


def test_running_stats_through_float16_fail_only_the_probabilistic_bound():
    # float32, m = 16,384: every moving statistic within its worst-case bound (m u for the batch
    # statistics), beyond the one with lambda sqrt(m) u (bnconform.bounds.moving_stats.findings)
    ok, comparisons = M.verdict("moving", M.PLANTED["running stats through float16"][1], "float32", "production")
    assert not ok
    for c in comparisons:
        assert c.n_mismatch == 0 and c.systematic, c.message()
        assert "error beyond the probabilistic bound" in c.message()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("values", [
    dict(loc=0.1, scale=1.0, constant_feature=0),  # one feature of 16,384 copies of 0.1
    dict(loc=3.3, scale=1.0, constant_feature=1),
], ids=["constant 0.1", "constant 3.3"])
def test_sequential_sums_of_a_constant_feature_conform(values, kind, dtype):
    """Repeated addends round alike, so their sequential sum errs like m u (2,590 u for 16,384 copies
    of 0.1 in float32), beyond Higham and Mary's lambda sqrt(m) u: the statistical tier keeps the worst
    case's gamma_m for such a feature (``bounds.reduction.distinct_enough``). This honest layer failed the moving
    mean and y at production size before."""
    from bnconform import cases as C

    ok, comparisons = M.verdict(kind, M.HONEST["sequential"], dtype, "production", values=C.Values(seed=0, **values))
    assert ok, "\n".join(c.message() for c in comparisons if not c.ok)


@pytest.mark.parametrize("name, size, dtype", sorted(NOT_APPLICABLE))
def test_a_change_that_is_not_one_gives_the_honest_output(name, size, dtype):
    """Each not-applicable cell of the table: the planted implementation's outputs equal, bit for bit,
    those of the same implementation without the bug."""
    kind, impl = M.PLANTED[name]
    twin = impl.without_bugs()
    assert twin != impl
    planted, honest = M.example(kind, impl, dtype, size), M.example(kind, twin, dtype, size)
    for key, value in honest.outputs.items():
        assert np.array_equal(planted.outputs[key], value), f"{name} changes {key} in {dtype} at {size} size"


def test_every_judgement_carries_the_statistical_margin():
    """The statistical tier's margin (largest |fitted| / allowed, ``Comparison.stat_ratio``) is what
    the results record as ``max_stat_ratio``: below 1 for an honest variant, above 1 where it catches
    a bug that every element's worst-case bound lets through."""
    _, honest = M.verdict("forward", M.HONEST["sequential"], "float32", "production")
    _, planted = M.verdict("forward", M.PLANTED["n-1 in the normalization"][1], "float32", "production")
    (h,), (p,) = honest, planted
    assert h.stat_ratio is not None and 0.0 < h.stat_ratio < 1.0 and h.ok
    assert p.stat_ratio > 1.0 and p.n_mismatch == 0 and not p.ok
    assert f"statistical tier {h.stat_ratio:.3g} of its allowance" in h.message()
