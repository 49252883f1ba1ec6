"""The comparison (``bnconform.compare``) judges and reports mismatches the way its docstrings say.

Module docstring: an element conforms when the reference is NaN and the value is NaN; the reference is
an infinity and the value the same infinity; both are finite and ``|actual - expected| <= tol``. The
message gives the number of mismatched elements, the largest absolute and relative differences with
their index, the largest difference in units of the tolerance, and in ULPs of the dtype.

The expected numbers below are worked out by hand from the constructed arrays (dyadic values, so every
difference is exact), not computed by the code under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest

from bnconform.compare import MAX_FINDINGS_LISTED, assert_all_within, compare, with_systematic, worst

# three mismatches, each the worst by a different measure:
#   (0, 0): 101 vs 100, |err| 1     (the largest absolute),  rel 0.01, tol 1/4  -> 4 tolerances
#   (0, 1): 1.25 vs 1,  |err| 1/4,  rel 1/4 (the largest relative),   tol 1/8  -> 2 tolerances
#   (1, 1): 10.5 vs 10, |err| 1/2,  rel 0.05, tol 1/64 -> 32 tolerances (the largest)
EXPECTED = np.array([[100.0, 1.0, 4.0], [8.0, 10.0, 2.0]])
ACTUAL = np.array([[101.0, 1.25, 4.0], [8.0, 10.5, 2.0]])
TOL = np.array([[0.25, 0.125, 0.5], [0.5, 1 / 64, 0.5]])
# ULPs of float32 (spacing 2^(e - 23) for |x| in [2^e, 2^(e+1)), at the larger magnitude of the two):
#   101 -> 2^-17: 1 / 2^-17 = 2^17;  1.25 -> 2^-23: 2^-2 / 2^-23 = 2^21;  10.5 -> 2^-20: 2^-1 / 2^-20 = 2^19
MAX_ULP = 2.0**21


def number(pattern: str, message: str) -> float:
    found = re.search(pattern, message)
    assert found, f"{pattern!r} not in the message:\n{message}"
    return float(found.group(1))


@pytest.fixture
def mismatch():
    return compare(ACTUAL, EXPECTED, TOL, dtype="float32", name="y")


def test_the_counts(mismatch):
    assert (mismatch.n_mismatch, mismatch.n_total, mismatch.ok) == (3, 6, False)
    assert re.search(r"\b3 / 6 \(50\.0%\)", mismatch.message()), mismatch.message()


def test_the_largest_absolute_difference_with_its_index_and_what_was_allowed_there(mismatch):
    assert (mismatch.max_abs, mismatch.max_abs_index, mismatch.tol_at_max_abs) == (1.0, (0, 0), 0.25)
    message = mismatch.message()
    assert number(r"absolute difference: (\S+) at index \(0, 0\)", message) == 1.0
    assert number(r"up to (\S+) allowed", message) == 0.25


def test_the_largest_relative_difference_with_its_index(mismatch):
    assert (mismatch.max_rel, mismatch.max_rel_index) == (0.25, (0, 1))
    assert number(r"relative difference: (\S+) at index \(0, 1\)", mismatch.message()) == 0.25


def test_the_largest_difference_in_units_of_the_tolerance_with_its_index(mismatch):
    assert (mismatch.max_ratio, mismatch.max_ratio_index) == (32.0, (1, 1))
    assert number(r"units of the tolerance: (\S+) at index \(1, 1\)", mismatch.message()) == 32.0


def test_the_largest_difference_in_ulps_of_the_dtype(mismatch):
    assert mismatch.max_ulp == MAX_ULP
    message = mismatch.message()
    assert "float32" in message and "'y'" in message and "(2, 3)" in message  # dtype, name, shape
    assert number(r"ULPs of float32: (\S+)", message) == pytest.approx(MAX_ULP, rel=1e-5)


@pytest.mark.parametrize("tol, ok", [
    (0.25, True),  # |err| == tol: within (the docstring's <=)
    (np.nextafter(0.25, 0.0), False),  # one float64 step below: outside
    (np.nextafter(0.25, 1.0), True),
])
def test_the_boundary_is_inclusive(tol, ok):
    result = compare(np.array([1.25]), np.array([1.0]), tol, dtype="float64")
    assert result.ok is ok and result.n_mismatch == (0 if ok else 1)


def test_zero_tolerance_allows_equality_only():
    assert compare(np.array([3.0, -0.0]), np.array([3.0, 0.0]), 0.0, dtype="float32").ok
    assert not compare(np.array([np.nextafter(3.0, 4.0)]), np.array([3.0]), 0.0, dtype="float64").ok


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("actual, expected, ok", [
    (NAN, NAN, True),
    (INF, INF, True),
    (-INF, -INF, True),
    (INF, -INF, False),
    (-INF, INF, False),
    (NAN, 1.0, False),
    (1.0, NAN, False),
    (INF, 1.0, False),
    (1e300, INF, False),  # a huge finite value is not infinity, whatever the tolerance
    (NAN, INF, False),
    (INF, NAN, False),
], ids=lambda v: repr(v))
def test_non_finite_values_conform_only_to_their_own_class(actual, expected, ok):
    tol = np.array([1e308, 1e308, 1e308])  # no tolerance excuses a non-finite mismatch
    result = compare(np.array([0.0, 2.0, actual]), np.array([0.0, 2.0, expected]), tol, dtype="float64")
    assert result.ok is ok
    if not ok:
        assert result.n_mismatch == 1 and result.max_ratio == float("inf")
        # the message names the element and both values
        assert re.search(r"index \(2,\).*got .*expected ", result.message()), result.message()


def test_a_conforming_comparison_says_so_with_its_margin():
    result = compare(np.array([1.125, 2.0]), np.array([1.0, 2.0]), 0.5, dtype="float32", name="dx")
    assert result.ok and result.max_ratio == 0.25
    assert "'dx'" in result.message() and "2 elements" in result.message() and "0.25" in result.message()


@dataclass
class Finding:
    text: str

    def describe(self) -> str:
        return self.text


def test_systematic_findings_fail_and_are_listed_up_to_the_limit():
    clean = compare(np.array([1.0, 2.0]), np.array([1.0, 2.0]), 0.1, dtype="float32")
    findings = [Finding(f"feature {i}: shared error") for i in range(MAX_FINDINGS_LISTED + 2)]
    flagged = with_systematic(clean, findings)
    assert not flagged.ok and flagged.n_mismatch == 0
    message = flagged.message()
    for i in range(MAX_FINDINGS_LISTED):
        assert f"feature {i}: shared error" in message
    assert f"feature {MAX_FINDINGS_LISTED}:" not in message and "... and 2 more" in message
    assert with_systematic(clean, []) is clean


def test_assert_all_within_lists_every_failing_output_and_worst_picks_the_largest_ratio(mismatch):
    passing = compare(np.array([1.0]), np.array([1.0]), 0.0, dtype="float32", name="dbeta")
    other = compare(np.array([2.0]), np.array([1.0]), 0.5, dtype="float32", name="dgamma")  # 2 tolerances
    with pytest.raises(AssertionError) as raised:
        assert_all_within([passing, mismatch, other], context="case: {}")
    text = str(raised.value)
    assert text.startswith("case: {}\n") and "'y'" in text and "'dgamma'" in text and "'dbeta'" not in text
    assert worst([passing, other, mismatch]) is mismatch
    assert worst([passing, other]) is other


# Was a bug (found by these meta-tests): compare() marked an element bad when err > tol, which is False
# for a NaN tolerance, so a NaN tolerance excused any error. The docstring's "|actual - expected| <= tol"
# rejects it; compare() now tests ~(err <= tol).
def test_a_nan_tolerance_excuses_nothing():
    result = compare(np.array([5.0, 1.0]), np.array([1.0, 1.0]), np.array([np.nan, 0.0]), dtype="float64")
    assert not result.ok and result.n_mismatch == 1


def test_an_output_of_another_shape_is_a_mismatch_of_every_element_not_an_exception():
    """A known deviation's model may produce the framework's shape (keras 3.5.0's 'same' pooling
    pads the wrong axis): so the comparison reports the shape instead of raising, and the model's
    comparison of the same output can still explain it."""
    result = compare(np.zeros((1, 2)), EXPECTED, TOL, dtype="float32", name="y")
    assert not result.ok and result.wrong_shape and result.n_mismatch == EXPECTED.size
    assert result.max_ratio == np.inf
    assert result.message() == "'y': shape (1, 2) does not match the expected (2, 3)"
    assert worst([compare(EXPECTED, EXPECTED, TOL, dtype="float32"), result]) is result
    with pytest.raises(AssertionError, match=r"shape \(1, 2\) does not match the expected \(2, 3\)"):
        assert_all_within([result])
    assert compare(EXPECTED.copy(), EXPECTED, TOL, dtype="float32").wrong_shape is False
