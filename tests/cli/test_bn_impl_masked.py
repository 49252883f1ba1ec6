"""The ``bn_masked`` property through ``--bn-impl``, as a user runs it (issue 22): a Keras layer whose
masked moments are computed another honest way conforms in every dtype, and one with the count of
keras-team/keras#19848 (Keras 3.0.2 to 3.8.0: the mask counted before it is broadcast) fails; a class
whose ``call`` takes no mask, and every PyTorch layer, skip the property with the reason."""

from __future__ import annotations

import importlib.util
import re

import pytest

from .test_bn_impl import run_bn_impl

pytestmark = pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras is not installed")

MODULE = "tests.bn_impl.keras_masked"
DTYPES = ("float16", "bfloat16", "float32", "float64")


@pytest.fixture(scope="module")
def masked_run():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_BACKEND", "tensorflow")
        proc = run_bn_impl(f"keras:{MODULE}:WeightedMoments", "--bn-impl", f"keras:{MODULE}:MaskCountBeforeBroadcast",
                           "--bn-impl", "keras:tests.bn_impl.keras_variants:VariantBatchNormalization",
                           "-k", "bn_masked", "-rfps", "--hypothesis-profile", "verdict", path="bnconform/conformance")
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


def _outcomes(stdout: str, name: str) -> dict[str, set[str]]:
    """{dtype: {outcomes}} of ``test_property[user-keras:MODULE.NAME-bn_masked-DTYPE-MODE]``."""
    found: dict[str, set[str]] = {}
    pattern = rf"^(PASSED|FAILED) \S+::test_property\[user-keras:[\w.]+\.{name}-bn_masked-(\w+)-(train|inference)\]"
    for outcome, dtype, _ in re.findall(pattern, stdout, re.M):
        found.setdefault(dtype, set()).add(outcome)
    return found


def test_honest_masked_moments_conform_in_every_dtype(masked_run):
    got = _outcomes(masked_run, "WeightedMoments")
    assert set(got) == set(DTYPES), f"ran in {sorted(got)}:\n{masked_run[-3000:]}"
    assert all(outcomes == {"PASSED"} for outcomes in got.values()), got


def test_the_count_before_broadcasting_of_keras_19848_fails(masked_run):
    got = _outcomes(masked_run, "MaskCountBeforeBroadcast")
    failed = {dtype for dtype, outcomes in got.items() if "FAILED" in outcomes}
    assert failed == set(DTYPES), f"failed in {sorted(failed)} of {got}:\n{masked_run[-3000:]}"


def test_a_class_whose_call_takes_no_mask_skips_with_the_reason(masked_run):
    assert re.search(r"SKIPPED \[\d+\] .*VariantBatchNormalization offers no mask argument to batch norm",
                     masked_run), masked_run[-3000:]
