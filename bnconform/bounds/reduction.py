"""The two reduction bounds: what a sum of n terms may err by, relative to the sum of their magnitudes.

- ``WORST_CASE`` (the worst-case tier): Higham's gamma_n = n u / (1 - n u) (Higham, Accuracy and
  Stability of Numerical Algorithms, 2nd ed., eq. (3.4) and Lemma 3.1), valid for any order of
  summation and any data; n own errors add up in full (sum |t_i|).
- ``PROBABILISTIC`` (the statistical tier): Higham and Mary's lambda sqrt(n) u ("A new approach to
  probabilistic rounding error analysis", SIAM J. Sci. Comput. 41(5), 2019, Theorem 3.1: it holds
  with probability at least 1 - 2 n exp(-lambda^2 (1 - u)^2 / 2) when the roundings are independent
  and mean-zero; ``LAMBDA`` = 6), and n independent own errors add up like a random walk
  (lambda sqrt(sum t_i^2)). Both need roundings that vary: where a reduction's addends repeat
  (``distinct_enough``) it falls back on the worst case's gamma_n and sum |t_i|.

Each op's module (``bn_forward``, ``bn_backward``, ``moving_stats``, ``conv2d``, ``pool2d``) computes
its error terms once and takes one of these as its ``bound``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .roundoff import Roundoff

LAMBDA = 6.0  # Higham-Mary's lambda for reductions (probabilistic gamma)
DISTINCT_FRACTION = 0.5  # a reduction is probabilistic only if this fraction of its addends differ,
ENOUGH_DISTINCT = 256  # or at least this many (a half-precision input has few values, in any order)


def per_feature(a, axis: int) -> np.ndarray:
    """(C, m): the feature axis first, its elements flattened."""
    return np.moveaxis(np.asarray(a, np.float64), axis, 0).reshape(np.shape(a)[axis], -1)


def probabilistic_gamma(n, u_acc: float) -> np.ndarray:
    """Higham and Mary's probabilistic gamma_n: lambda sqrt(n) u (2019, Theorem 3.1, first order)."""
    return LAMBDA * np.sqrt(np.asarray(n, np.float64)) * u_acc


def distinct_enough(addends, axis: int) -> np.ndarray:
    """Per feature (C,): whether DISTINCT_FRACTION of a reduction's addends, or ENOUGH_DISTINCT, are distinct.

    Higham and Mary's model needs roundings that vary: m copies of one value (a constant feature,
    dy = 0.1 everywhere) summed in order give partial sums k c that round alike, and the sum errs
    like m u, not sqrt(m) u (measured: a sequential float32 sum of 16,384 copies of 0.1 is 1.5e-4 =
    2,590 u of the result low; the probabilistic bound allows 6 x 128 = 768 u). Half the addends
    distinct, or ENOUGH_DISTINCT of them: 16,384 normal draws rounded to bfloat16 take about 1,900
    values, in random order, and their partial sums vary; the "ints" draw takes 9, and its sums carry
    k loc and round alike. ``varied`` asks the same of a whole input (convolution, pooling).
    """
    f = np.sort(per_feature(addends, axis), axis=1)
    distinct = 1 + np.count_nonzero(np.diff(f, axis=1) != 0, axis=1)
    return distinct >= min(DISTINCT_FRACTION * f.shape[1], ENOUGH_DISTINCT)


def varied(x) -> bool:
    """Whether the input's finite values, as the addends of one reduction, vary (``distinct_enough``):
    Higham and Mary's independent roundings (each output's lambda sqrt(k) u) and outputs that err
    independently (``fits.shared_scale``) both need addends that differ."""
    x = np.asarray(x, np.float64)
    return bool(distinct_enough(x[np.isfinite(x)].reshape(-1, 1), 1)[0])


def random_walk(terms, axis: int, independent: np.ndarray) -> np.ndarray:
    """Per feature (C,): a bound on the sum of errors bounded by ``terms`` -- lambda sqrt(sum t^2)
    where they are independent (``independent``, per feature), sum |t| where they may all lean one way."""
    t = np.abs(per_feature(terms, axis))
    return np.where(independent, LAMBDA * np.sqrt(np.square(t).sum(axis=1)), t.sum(axis=1))


class ReductionBound(NamedTuple):
    """One of the two reduction bounds (module docstring); ``name`` says which tier it serves."""

    name: str
    probabilistic: bool

    def gamma(self, n, r: Roundoff, addends=None, axis: int = -1, varied: np.ndarray | None = None) -> np.ndarray:
        """The rounding factor of a reduction of n terms: gamma_n (worst case, a 0-d array); per
        feature (C,) for the probabilistic bound, lambda sqrt(n) u where ``addends`` vary along the
        features of ``axis`` (``varied``: ``distinct_enough(addends, axis)`` when the caller has it)
        and gamma_n where they repeat."""
        if not self.probabilistic:
            return r.gamma(n)
        if varied is True:  # the caller checked the whole input (``varied``)
            return probabilistic_gamma(n, r.acc)
        varied = distinct_enough(addends, axis) if varied is None else varied
        return np.where(varied, probabilistic_gamma(n, r.acc), r.gamma(n))

    def own_sum(self, terms, axis: int, independent) -> np.ndarray:
        """Per feature (C,) along ``axis``: the sum of the elements' own errors bounded by ``terms``:
        sum |t| (worst case), ``random_walk`` where ``independent`` (probabilistic)."""
        if not self.probabilistic:
            terms = np.asarray(terms, np.float64)
            return np.abs(terms).sum(axis=tuple(a for a in range(terms.ndim) if a != axis % terms.ndim))
        return random_walk(terms, axis, independent)


WORST_CASE = ReductionBound("worst case: Higham's gamma_n", False)
PROBABILISTIC = ReductionBound("probabilistic: Higham and Mary's lambda sqrt(n) u", True)
