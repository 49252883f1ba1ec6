"""ULP distances on hand-computed answers, and drift between runs."""

import math

import ml_dtypes
import numpy as np
import pytest

from bnconform.reports.drift import DriftStat, compare_outputs, decode_output, drift_rows, ulp_distance


def ulps(a, b, dtype):
    distance, mismatch = ulp_distance(np.array([a], dtype=dtype), np.array([b], dtype=dtype))
    return int(distance[0]), bool(mismatch[0])


@pytest.mark.parametrize("a, b, dtype, expected", [
    (1.0, 1.0, np.float32, 0),
    (1.0, 1.0 + 2.0 ** -23, np.float32, 1),
    (1.0, 2.0, np.float32, 2 ** 23),                 # one binade holds 2**23 float32 values
    (2.0, 1.0, np.float32, 2 ** 23),                 # symmetric
    (-0.0, 0.0, np.float32, 0),
    (-1e-45, 1e-45, np.float32, 2),                  # smallest subnormals either side of zero
    (-1.0, 1.0, np.float32, 2 * 0x3F800000),         # 0x3f800000 values from 0 to 1, twice
    (3.4028234663852886e38, math.inf, np.float32, 1),  # inf is one past the largest finite value
    (1.0, 2.0, np.float16, 2 ** 10),
    (1.0, 1.0 + 2.0 ** -10, np.float16, 1),
    (1.0, 2.0, ml_dtypes.bfloat16, 2 ** 7),
    (1.0, 1.0078125, ml_dtypes.bfloat16, 1),
    (1.0, 2.0, np.float64, 2 ** 52),
    (-1.0, 1.0, np.float64, 2 * 0x3FF0000000000000),  # exceeds int64: needs unsigned arithmetic
])
def test_known_ulp_distances(a, b, dtype, expected):
    assert ulps(a, b, dtype) == (expected, False)


def test_nan_against_nan_is_equal_and_against_a_number_is_a_mismatch():
    assert ulps(math.nan, math.nan, np.float32) == (0, False)
    assert ulps(math.nan, 1.0, np.float32)[1] is True


def test_compare_outputs_summarizes():
    a = np.array([1.0, 2.0, 3.0, math.nan], dtype=np.float32)
    b = np.array([1.0, np.nextafter(np.float32(2.0), np.float32(3.0)), 3.0, math.nan], dtype=np.float32)
    assert compare_outputs(a, b) == DriftStat(max_ulp=1.0, changed=1, nan_mismatch=0, size=4)
    c = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    stat = compare_outputs(a, c)
    assert stat.max_ulp == math.inf and stat.nan_mismatch == 1 and stat.changed == 1
    shape = compare_outputs(np.zeros(2, np.float32), np.zeros(3, np.float32))
    assert shape.max_ulp == math.inf and "shape changed" in shape.note


def test_decode_output_reads_tokens_and_rounds_exactly():
    out = decode_output([[1.0, "inf"], ["-inf", "nan"]], "bfloat16")
    assert out.dtype == np.dtype(ml_dtypes.bfloat16)
    assert out[0, 0] == 1.0 and out[0, 1] == np.inf and out[1, 0] == -np.inf and np.isnan(out[1, 1])
    with pytest.raises(ValueError, match="'int8' is not a floating dtype"):
        decode_output([1], "int8")
    with pytest.raises(ValueError, match="'big' is not a number"):
        decode_output(["big"], "float32")


def run(name, version, entries):
    return {"name": name, "versions": {"torch": version}, "drift": entries}


def entry(case, output, op="conv2d", dtype="float32"):
    return {"target": "torch", "op": op, "case": case, "output": output, "dtype": dtype}


def test_drift_between_two_runs_over_their_common_cases():
    two = 2.0 + 2 * 2.0 ** -22  # two float32 ULPs above 2.0
    old = run("torch212", "2.12.0", [entry({"seed": 0}, [1.0, 2.0]), entry({"seed": 1}, [5.0]),
                                     entry({"seed": 9}, [7.0])])
    new = run("torch213", "2.13.0", [entry({"seed": 0}, [1.0, two]), entry({"seed": 1}, [5.0]),
                                     entry({"seed": 2}, [0.0])])
    (row,) = drift_rows([old, new])
    assert (row.target, row.op, row.before, row.after) == ("torch", "conv2d", "torch212", "torch213")
    assert (row.cases, row.cases_changed, row.max_ulp, row.nan_mismatch) == (2, 1, 2.0, 0)
    assert (row.before_version, row.after_version) == ("2.12.0", "2.13.0")


def test_case_identity_ignores_key_order():
    a = run("a", "1", [entry({"seed": 0, "n": 2}, [1.0])])
    b = run("b", "2", [entry({"n": 2, "seed": 0}, [1.0])])
    (row,) = drift_rows([a, b])
    assert (row.cases, row.max_ulp) == (1, 0.0)


def test_drift_compares_runs_that_differ_in_one_thing_only():
    """keras-tensorflow at (Keras 3.14.1, TF 2.21), (3.15.1, 2.20), (3.15.1, 2.21): the Keras upgrade
    and the TensorFlow upgrade are compared each on its own, never the pair where both change."""
    from bnconform.reports.model import Run
    from bnconform.reports.page.drift_view import compute_drift

    from .conftest import make_doc, make_record

    def run(name, keras, tf, value):
        record = make_record(target="keras-tensorflow", framework="keras", version=keras, backend="tensorflow",
                             backend_version=tf)
        drift = [{"target": "keras-tensorflow", "op": "conv2d/valid", "case": {"seed": 1}, "output": [value],
                  "dtype": "float32"}]
        return Run(name=name, path=name, doc=make_doc(name, [record], drift=drift))

    rows = compute_drift([run("keras314-tf", "3.14.1", "2.21.0", 1.0), run("tf220", "3.15.1", "2.20.0", 1.0),
                          run("tf221", "3.15.1", "2.21.0", 1.0)])
    assert {(r.before, r.after) for r in rows} == {("keras314-tf", "tf221"), ("tf220", "tf221")}
