"""The dtype's unit roundoffs, the safety factor and the underflow floor, shared by both tiers.

``u_acc`` (``Roundoff.acc``) is the unit roundoff of the accumulation of reductions, ``u``
(``Roundoff.out``) that of element-wise arithmetic and stored results; for float16 and bfloat16
``u_acc`` is float32's (every framework here accumulates half-precision reductions in float32).
docs/tolerances.md derives the model.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import dtypes

SAFETY = 2.0
"""The suite's single safety factor on first-order bounds."""


class Roundoff(NamedTuple):
    acc: float  # u for the accumulation of reductions
    out: float  # u for element-wise arithmetic and stored results, in the dtype
    floor: float  # absolute allowance for gradual underflow
    long_sums: bool = False  # allow n u >= 1/2 (see gamma); only for sums in half precision

    def gamma(self, n) -> np.ndarray:
        """Higham's gamma_n = n u / (1 - n u) for the accumulation precision (Higham, Accuracy and
        Stability of Numerical Algorithms, 2nd ed., Lemma 3.1, eq. (3.4)).

        With ``long_sums`` (a model of sums accumulated in half precision, where n u reaches 1/2 for
        a few hundred terms) the bound is (1 + u)^n - 1 instead, the product of n roundings before
        the first-order simplification: valid for every n (Higham, Lemma 3.1 and eq. (3.2)), equal to
        gamma_n to first order, and honestly large when the sum is long.
        """
        n = np.asarray(n, np.float64)
        nu = n * self.acc
        if self.long_sums:
            return np.expm1(n * np.log1p(self.acc))
        if np.any(nu >= 0.5):
            raise ValueError(
                f"n: a reduction of {int(np.max(n))} terms is too long for a rounding-error bound at u={self.acc:g}"
            )
        return nu / (1.0 - nu)


def roundoff(dtype: str, *, accumulate_in: str | None = None) -> Roundoff:
    """The model's roundoffs for ``dtype``; ``accumulate_in`` names another accumulation precision
    (a half one allows long sums, see ``Roundoff.gamma``)."""
    return Roundoff(
        dtypes.unit_roundoff(accumulate_in or dtypes.accumulation_dtype(dtype)),
        dtypes.unit_roundoff(dtype),
        dtypes.smallest_normal(dtype),
        long_sums=accumulate_in in dtypes.HALF,
    )


VARIANCE_ALGORITHMS = ("two-pass", "one-pass")


class Numerics(NamedTuple):
    """Other numerics to evaluate the worst-case tier with (the known deviations' tolerance models).

    ``roundoff`` replaces ``roundoff(dtype)`` (e.g. ``roundoff("float32")`` for a float64 layer
    that computes in float32); ``variance`` "one-pass" bounds the batch variance as computed by
    E[x^2] - E[x]^2 (``batch_stats.stat_errors``) instead of the two-pass sum of squared deviations.
    """

    roundoff: Roundoff | None = None
    variance: str = "two-pass"


def resolve(dtype: str, numerics: Numerics | None) -> Roundoff:
    """``numerics.roundoff`` where given, else the model's ``roundoff(dtype)``."""
    if numerics is not None and numerics.roundoff is not None:
        return numerics.roundoff
    return roundoff(dtype)


def one_pass(numerics: Numerics | None) -> bool:
    """Whether ``numerics`` asks for the one-pass variance."""
    if numerics is None:
        return False
    if numerics.variance not in VARIANCE_ALGORITHMS:
        raise ValueError(f"variance: expected one of {VARIANCE_ALGORITHMS}, got {numerics.variance!r}")
    return numerics.variance == "one-pass"


def finish(bound: np.ndarray, y: np.ndarray, r: Roundoff) -> np.ndarray:
    """Add the rounding of the stored result u |y|, the safety factor and the underflow floor:
    SAFETY (bound + u |y|) + floor."""
    return SAFETY * (bound + r.out * np.abs(y)) + r.floor
