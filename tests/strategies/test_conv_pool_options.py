"""The convolution and pooling strategies draw every option an adapter offers (issue 22): every padding
mode, groups from 1 up to depthwise (groups == C_in, with C_out a multiple of it), every dilation of the
menu with and without stride, and for pooling every padding, ceil mode and count_include_pad; an
option not offered is never drawn (``tests/meta/test_strategy_capabilities.py`` checks each flag)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnconform import shapes, strategies

from tests.meta.capability_table import WIDEST as ALL  # every option offered

MANY = settings(max_examples=300, derandomize=True, database=None, deadline=None)


def drawn(strategy) -> list:
    found = []

    @MANY
    @given(strategy)
    def collect(case):
        found.append(case)

    collect()
    return found


def _mode(padding) -> str:
    return padding if isinstance(padding, str) else "explicit"


def test_conv_cases_reach_every_padding_groups_up_to_depthwise_and_every_dilation():
    found = drawn(strategies.conv_cases(ALL, dtype="float32"))
    assert {_mode(c.padding) for c in found} == set(ALL.conv_paddings)
    depthwise = [c for c in found if c.groups == c.c_in > 1]
    grouped = [c for c in found if 1 < c.groups < c.c_in]
    assert depthwise, "no depthwise convolution (groups == C_in) drawn"
    assert any(c.c_out > c.c_in for c in depthwise), "no depthwise convolution with a channel multiplier drawn"
    assert grouped, "no grouped convolution between 1 and depthwise drawn"
    assert {c.dilation for c in found} == set(shapes.DILATIONS)
    assert any(c.dilation != (1, 1) and c.stride != (1, 1) for c in found)
    assert any(c.padding == "same" and c.stride != (1, 1) for c in found)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_cases_reach_every_padding_and_ceil_mode(kind):
    found = drawn(strategies.pool_cases(ALL, kind=kind, dtype="float32"))
    assert {_mode(c.padding) for c in found} == set(ALL.pool_paddings)
    assert {c.ceil_mode for c in found} == {False, True}
    if kind == "avg":
        assert {c.count_include_pad for c in found if _mode(c.padding) == "explicit"} == set(ALL.pool_count_include_pad)


def test_production_convolutions_reach_each_padding_stride_and_dilation_offered():
    found = drawn(st.just(None).flatmap(lambda _: strategies.production_cases(ALL, dtype="float32", key="conv2d")))
    assert {_mode(c.padding) for c in found} >= {"valid", "same"}
    assert {c.stride for c in found} == {(1, 1), (2, 2)}
    assert all(c.dilation == (2, 2) for c in found)
