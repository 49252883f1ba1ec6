"""The tolerance model (``bnconform.tolerance``) grows with the reduction length n and the unit
roundoff u, for every op it covers, and it catches a one-pass-variance batch norm.

Monotone in n: the inputs are held to the same magnitudes while n grows (a batch tiled r times has
the same mean, variance and mean|x|; a convolution with x = 1 and w = 1/K sums to 1 for every K; a
pooling window of constant values averages to the same value), so that only n moves. Higham's
gamma_n = n u / (1 - n u) is increasing in n, and every bound of the model is a sum of non-negative
terms increasing in gamma_n, so the tolerance must not shrink.

Monotone in u: the same inputs with the model's roundoffs of a coarser dtype, along the chains
float64 < float32 < float16 and float32 < bfloat16 (acc, out and the underflow floor all non-decreasing
along them; float16 and bfloat16 are not comparable: bfloat16 has the larger u but float16 the larger
floor), and, for the ops that take ``numerics``, a sweep of u itself with the floor held.

And the tolerance is a non-negative number wherever the reference output is finite, for drawn cases of
every op (``compare`` would let a NaN tolerance excuse any error).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnconform import reference as R
from bnconform import cases, checks, dtypes, shapes, tolerance
from bnconform.tolerance import Numerics, Roundoff

from .capability_table import STRATEGIES, WIDEST

CHAINS = (("float64", "float32", "float16"), ("float32", "bfloat16"))
REPEATS = (1, 2, 4, 8, 32, 128)  # the batch tiled r times: m = r * m0


def base_batch(shape=(4, 3), seed=1) -> np.ndarray:
    """Values exact in every dtype (small integers / 4 + 0.5), so one input serves all of them."""
    return cases.Values(seed=seed, dist="ints", loc=0.5, scale=0.25).draw(shape, "bfloat16")


def params(c: int):
    rng = np.random.default_rng(3)
    return (dtypes.round_to(rng.normal(1.0, 0.5, c), "bfloat16"), dtypes.round_to(rng.normal(0.0, 1.0, c), "bfloat16"))


# -- each op's tolerance as a function of (r, dtype, numerics): a list of arrays of fixed shape ----------


def bn_forward(r, dtype, numerics=None, *, training=True):
    x0 = base_batch()
    gamma, beta = params(3)
    stats = R.batch_stats(x0, 1)  # the tiled batch's statistics are the same numbers
    x = np.tile(x0, (r, 1))
    tol = tolerance.bn_forward(x, gamma, beta, stats.mean, stats.var, 1e-3, 1, dtype, training=training,
                               numerics=numerics)
    return [tol[: len(x0)]]


def bn_backward(r, dtype, numerics=None, *, training=True):
    x0 = base_batch()
    dy0 = base_batch(seed=2) - 0.5
    gamma, _ = params(3)
    stats = R.batch_stats(x0, 1)
    x, dy = np.tile(x0, (r, 1)), np.tile(dy0, (r, 1))
    if training:
        grads = R.batch_norm_train_backward(dy, x, gamma, eps=1e-3, axis=1)
    else:
        grads = R.batch_norm_inference_backward(dy, x, gamma, stats.mean, stats.var, eps=1e-3, axis=1)
    tol = tolerance.bn_backward(dy, x, gamma, stats.mean, stats.var, 1e-3, 1, dtype, training=training,
                                grads=grads, numerics=numerics)
    return [tol.dx[: len(x0)], tol.dgamma, tol.dbeta]


def moving_stats(r, dtype, numerics=None):
    """Two updates, Keras's convention (biased variance: the tiled batch's variance is the same value;
    PyTorch's unbiased m/(m-1) changes the value itself with m)."""
    batches = [np.tile(base_batch(seed=s), (r, 1)) for s in (4, 5)]
    state = R.MovingStats(np.zeros(3), np.ones(3), 0)
    states = []
    for x in batches:
        state = R.update_moving_stats(state, x, momentum=0.9, axis=1, convention="keras")
        states.append(state)
    return list(tolerance.moving_stats(batches, np.zeros(3), np.ones(3), states, axis=1, dtype=dtype,
                                       weights_old=[0.9, 0.9], unbiased=False, numerics=numerics))


CONV_C_IN = (1, 2, 4, 8, 32, 128)  # K = C_in * 3 * 3


def conv2d(i, dtype, numerics=None):
    """x = 1 and w = 1/K: every output sums K terms to 1 (plus a bias), whatever K."""
    assert numerics is None, "the convolution's tolerance takes no numerics"
    c_in = CONV_C_IN[i]
    k = c_in * 9
    x = np.ones((1, 3, 3, c_in))
    w = np.full((2, c_in, 3, 3), 1.0 / k)
    b = np.array([0.5, -0.25])
    y = R.conv2d(x, w, b)
    return [tolerance.conv2d(x, w, b, y, dtype=dtype)]


POOL_WINDOWS = ((1, 1), (1, 2), (2, 2), (2, 4), (4, 4), (8, 8))


def pool(kind, i, dtype, numerics=None, *, p=None):
    """Constant inputs: the average is the value itself; for Lp the value is k^(-1/p), so that the norm
    is 1 for every window size k."""
    window = POOL_WINDOWS[i]
    k = window[0] * window[1]
    if kind == "global_avg":
        x = np.full((1, window[0], window[1], 2), 1.5)
        y = R.global_avg_pool2d(x)
        return [tolerance.pool2d(kind, x, y, dtype=dtype, numerics=numerics)]
    x = np.full((1, 8, 8, 2), 1.5 if kind != "lp" else k ** (-1.0 / p))
    common = dict(padding="valid")
    if kind == "avg":
        y = R.avg_pool2d(x, window, window, **common)
    elif kind == "lp":
        y = R.lp_pool2d(x, p, window, window, **common)
    else:
        y = R.max_pool2d(x, window, window, **common)
    tol = tolerance.pool2d(kind, x, y, dtype=dtype, window=window, p=p, numerics=numerics, stride=window, **common)
    return [tol[:, :1, :1, :]]  # the first output: every window size has one


OPS = {
    "bn_forward train": lambda r, d, n=None: bn_forward(REPEATS[r], d, n),
    "bn_forward inference": lambda r, d, n=None: bn_forward(REPEATS[r], d, n, training=False),
    "bn_backward train": lambda r, d, n=None: bn_backward(REPEATS[r], d, n),
    "bn_backward inference": lambda r, d, n=None: bn_backward(REPEATS[r], d, n, training=False),
    "moving_stats": lambda r, d, n=None: moving_stats(REPEATS[r], d, n),
    "conv2d": conv2d,
    "pool2d max": lambda i, d, n=None: pool("max", i, d, n),
    "pool2d avg": lambda i, d, n=None: pool("avg", i, d, n),
    "pool2d lp p=1": lambda i, d, n=None: pool("lp", i, d, n, p=1.0),
    "pool2d lp p=2": lambda i, d, n=None: pool("lp", i, d, n, p=2.0),
    "pool2d lp p=3": lambda i, d, n=None: pool("lp", i, d, n, p=3.0),
    "pool2d global_avg": lambda i, d, n=None: pool("global_avg", i, d, n),
}
TAKES_NUMERICS = [name for name in OPS if name != "conv2d"]
# where n does not enter the model at all (documented: inference has no batch statistics, max pooling
# does no arithmetic); everywhere else the tolerance must strictly grow with n
N_FREE = {"bn_forward inference", "pool2d max"}


def assert_non_decreasing(smaller: list, larger: list, what: str) -> None:
    for a, b in zip(smaller, larger):
        assert np.all(b >= a), f"{what}: the tolerance shrank, by up to {np.max(a - b):.3g} (from {np.max(a):.3g})"


@pytest.mark.parametrize("dtype", dtypes.DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_tolerance_is_monotone_in_n(op, dtype):
    tols = [OPS[op](i, dtype) for i in range(len(REPEATS))]
    for i in range(1, len(tols)):
        assert_non_decreasing(tols[i - 1], tols[i], f"{op} {dtype}, n step {i}")
    if op not in N_FREE:
        assert any(np.any(b > a) for a, b in zip(tols[0], tols[-1])), f"{op}: n does not enter the tolerance"


def test_the_model_orders_the_dtypes_as_the_chains_say():
    """The premise of the dtype chains: u = 2^-p per IEEE 754 / bfloat16's 8-bit significand, and
    the model's accumulation, element-wise and floor terms non-decreasing along each chain."""
    assert [dtypes.unit_roundoff(d) for d in ("float64", "float32", "float16", "bfloat16")] == [
        2.0**-53, 2.0**-24, 2.0**-11, 2.0**-8]
    for chain in CHAINS:
        for fine, coarse in zip(chain, chain[1:]):
            a, b = tolerance.roundoff(fine), tolerance.roundoff(coarse)
            assert a.acc <= b.acc and a.out < b.out and a.floor <= b.floor, (fine, coarse)


@pytest.mark.parametrize("chain", CHAINS, ids=["<".join(c) for c in CHAINS])
@pytest.mark.parametrize("op", OPS)
def test_tolerance_is_monotone_in_the_dtype(op, chain):
    for fine, coarse in zip(chain, chain[1:]):
        assert_non_decreasing(OPS[op](2, fine), OPS[op](2, coarse), f"{op}: {fine} -> {coarse}")


U_SWEEP = (2.0**-53, 2.0**-40, 2.0**-24, 2.0**-16, 2.0**-11, 2.0**-8)


@pytest.mark.parametrize("which", ["acc", "out", "both"])
@pytest.mark.parametrize("op", TAKES_NUMERICS)
def test_tolerance_is_monotone_in_u(op, which):
    """u swept with the floor held at 0 (through ``tolerance.Numerics``, the model's own hook)."""
    def numerics(u):
        acc = u if which in ("acc", "both") else 2.0**-24
        out = u if which in ("out", "both") else 2.0**-24
        return Numerics(roundoff=Roundoff(acc, out, 0.0))

    tols = [OPS[op](2, "float32", numerics(u)) for u in U_SWEEP]
    for i in range(1, len(tols)):
        assert_non_decreasing(tols[i - 1], tols[i], f"{op}, u {U_SWEEP[i - 1]:g} -> {U_SWEEP[i]:g}")
    # documented exceptions: max pooling does no arithmetic; batch norm's inference forward has no reduction
    if op != "pool2d max" and (op, which) != ("bn_forward inference", "acc"):
        assert any(np.any(b > a) for a, b in zip(tols[0], tols[-1])), f"{op}: u ({which}) does not enter"


def test_max_pooling_allows_nothing():
    """Documented: max pooling does no arithmetic, its tolerance is 0 for every n and u."""
    for i in range(len(POOL_WINDOWS)):
        for d in dtypes.DTYPES:
            assert not np.any(OPS["pool2d max"](i, d)[0])


# -- planted mutants: each monotonicity test fails on a model that breaks it ------------------------------


def test_a_gamma_that_shrinks_with_n_fails_the_n_test(monkeypatch):
    """gamma_n replaced by u / n (an error bound divided by the count instead of grown with it)."""
    monkeypatch.setattr(Roundoff, "gamma", lambda self, n: self.acc / np.asarray(n, np.float64))
    for op in ("bn_forward train", "conv2d", "pool2d avg"):
        with pytest.raises(AssertionError, match="shrank"):
            test_tolerance_is_monotone_in_n(op, "float32")


def test_a_model_that_accumulates_float32_in_float16_fails_the_dtype_test(monkeypatch):
    """float32's reductions given float16's u while float16's keep float32's: float32 allowed more than float16."""
    real = dtypes.accumulation_dtype
    monkeypatch.setattr(dtypes, "accumulation_dtype", lambda d: "float16" if d == "float32" else real(d))
    for op in ("bn_forward train", "conv2d", "pool2d avg"):
        with pytest.raises(AssertionError, match="shrank"):
            test_tolerance_is_monotone_in_the_dtype(op, CHAINS[0])


# -- the tolerance is a number wherever the reference is one ---------------------------------------------
# (``compare`` lets a NaN tolerance excuse any error: see test_compare_report's xfail; this is the guard)



def tolerances(case) -> list[tuple[np.ndarray, np.ndarray]]:
    """(reference output, its tolerance) for every output the properties judge of ``case``."""
    if isinstance(case, cases.BNCase):
        inputs = cases.materialize_bn(case)
        out = []
        for training in (True, False):
            x, mean, var, y = checks.bn_reference(case, inputs, training)
            out.append((y, tolerance.bn_forward(x, inputs.gamma, inputs.beta, mean, var, case.eps, case.axis,
                                                case.dtype, training=training)))
            grads = checks.bn_reference_grads(case, inputs, training)
            tol = tolerance.bn_backward(inputs.dy, x, inputs.gamma, mean, var, case.eps, case.axis, case.dtype,
                                        training=training, grads=grads)
            out += [(grads.dx, tol.dx), (grads.dgamma, tol.dgamma), (grads.dbeta, tol.dbeta)]
        if case.momentum is not None:
            one_value = shapes.values_per_feature(case.shape, case.axis) < 2  # no unbiased variance of it
            for convention in ("keras",) if one_value else ("keras", "torch"):
                states = checks.reference_moving_stats(case, inputs, convention)
                tol_mean, tol_var = tolerance.moving_stats(
                    inputs.xs, inputs.moving_mean, inputs.moving_var, states, axis=case.axis, dtype=case.dtype,
                    weights_old=checks.moving_weights(case, convention, len(inputs.xs)),
                    unbiased=convention == "torch")
                out += [(states[-1].mean, tol_mean), (states[-1].var, tol_var)]
        return out
    if isinstance(case, cases.ConvCase):
        inputs = cases.materialize_conv(case)
        y = R.conv2d(inputs.x, inputs.w, inputs.b, **case.conv_kwargs())
        return [(y, tolerance.conv2d(inputs.x, inputs.w, inputs.b, y, dtype=case.dtype, **case.conv_kwargs()))]
    x = cases.materialize_pool(case)
    y, kwargs = checks.reference_pool(case, x)
    return [(y, checks.pool_tolerance(case, x, y, kwargs))]


# batch norm plain and adversarial, convolution, and pooling of every kind with and without NaN/inf
any_case = st.one_of(*(STRATEGIES[name](WIDEST) for name in ("bn_cases", "conv_cases", "pool_cases")))


@settings(max_examples=60, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(any_case)
def test_the_tolerance_is_a_non_negative_number_wherever_the_reference_is_finite(case):
    with np.errstate(all="ignore"):
        pairs = tolerances(case)
    for y, tol in pairs:
        if y is None:  # no such gradient (scale or center off, a frozen layer): none judged, none bounded
            assert tol is None, case.dumps()
            continue
        tol = np.broadcast_to(tol, np.shape(y))
        finite = np.isfinite(y)
        assert not np.isnan(tol[finite]).any(), case.dumps()
        assert (tol[finite] >= 0).all(), case.dumps()
