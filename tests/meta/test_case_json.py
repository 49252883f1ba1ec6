"""Cases round-trip through JSON, the three ways the suite writes them, and materialize bit for bit the same.

A failing example is reported as ``case.dumps()`` (the failure message and the ``replay`` command,
which ``bnconform replay`` reads back with ``cases.from_json``) and recorded as ``case.to_json()``
through ``bnconform.reports.jsonsafe.dumps`` (the results file's ``example``). Replaying a case is only honest
if the case read back is the case drawn, and its inputs are the very same numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnconform import cases
from bnconform.reports import jsonsafe

from .capability_table import STRATEGIES, WIDEST

SETTINGS = settings(max_examples=40, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

WRITERS = {
    "json.dumps(to_json)": lambda case: json.loads(json.dumps(case.to_json())),
    "dumps (message, replay)": lambda case: case.dumps(),  # from_json takes the string itself
    "jsonsafe.dumps (results file)": lambda case: json.loads(jsonsafe.dumps(case.to_json())),
}


def arrays(case) -> list[np.ndarray]:
    """Every array a case materializes to, in a fixed order."""
    if isinstance(case, cases.BNCase):
        inputs = cases.materialize_bn(case)
        return [*inputs.xs, inputs.gamma, inputs.beta, inputs.moving_mean, inputs.moving_var, inputs.dy]
    if isinstance(case, cases.ConvCase):
        inputs = cases.materialize_conv(case)
        return [inputs.x, inputs.w] + ([] if inputs.b is None else [inputs.b])
    return [cases.materialize_pool(case)]


def assert_bitwise_equal(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.dtype == v.dtype and u.shape == v.shape
        assert u.tobytes() == v.tobytes()  # bitwise: NaN payloads, signed zeros and infinities included


def assert_round_trips(case) -> None:
    original = arrays(case)  # materialized once: a production case is megabytes
    for how, write in WRITERS.items():
        back = cases.from_json(write(case))
        assert type(back) is type(case), how
        assert back == case, f"{how}: {case!r} came back as {back!r}"
        assert_bitwise_equal(arrays(back), original)


drawn_cases = st.one_of(
    STRATEGIES["bn_cases"](WIDEST),
    STRATEGIES["conv_cases"](WIDEST),
    STRATEGIES["pool_cases"](WIDEST),
)


@SETTINGS
@given(drawn_cases)
def test_drawn_cases_round_trip_and_materialize_identically(case):
    assert_round_trips(case)


@pytest.mark.parametrize("op", sorted(cases.CASE_TYPES))
def test_the_drawn_cases_cover_every_op(op):
    """The round-trip test above draws cases of every op (else it would say nothing about one)."""
    seen = set()

    @SETTINGS
    @given(drawn_cases)
    def collect(case):
        seen.add(case.op)

    collect()
    assert op in seen


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_production_cases_round_trip(dtype):
    """Production cases (each draw a case of every op, megabytes each) take the same writers; the
    fields they draw are the small cases' (above, 40 examples), so 10 draws per dtype."""
    from bnconform import strategies

    @settings(SETTINGS, max_examples=10)
    @given(strategies.production_cases(WIDEST, dtype=dtype))
    def check(produced):
        assert {case.op for case in produced.values()} == set(cases.CASE_TYPES)
        for case in produced.values():
            assert_round_trips(case)

    check()


def test_special_values_and_optional_fields_round_trip():
    """The fields the strategies set rarely: non-finite specials, a constant feature, momentum None,
    explicit asymmetric padding, ceil mode and count_include_pad."""
    values = cases.Values(seed=7, dist="uniform", loc=-2.5, scale=0.125, constant_feature=1,
                          specials=("nan", "-inf", "inf"))
    for case in (
        cases.BNCase(shape=(3, 2, 2, 4), axis=-1, dtype="bfloat16", eps=1e-3, momentum=None, steps=3, x=values,
                     params_seed=5, random_params=False),
        cases.ConvCase(x_shape=(1, 3, 6, 5), data_format="channels_first", c_out=6, kernel=(3, 2), stride=(2, 1),
                       dilation=(1, 2), padding=((0, 2), (1, 0)), groups=3, bias=True, dtype="float16", x=values,
                       w_seed=3),
        cases.PoolCase(kind="avg", x_shape=(2, 5, 7, 3), window=(3, 3), stride=(2, 2), padding=((1, 0), (0, 1)),
                       ceil_mode=True, count_include_pad=True, dtype="float64", x=values),
    ):
        assert_round_trips(case)
        assert any(np.isnan(a).any() for a in arrays(case))  # the specials did reach the arrays


def test_from_json_names_what_is_wrong():
    good = cases.PoolCase().to_json()
    with pytest.raises(ValueError, match="unknown fields for pool2d: \\['windw'\\]"):
        cases.from_json({**good, "windw": [2, 2]})
    with pytest.raises(ValueError, match="op: expected one of .*got 'pool'"):
        cases.from_json({**good, "op": "pool"})
