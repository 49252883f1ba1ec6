"""Every strategy respects every capability flag it reads (``capability_table``).

For each row of the table and each strategy that reads the row's flag:

- restricted: no case drawn under the restricted capabilities violates the restriction (a
  derandomized Hypothesis run, so a violation shrinks to a small case and the run is reproducible);
- open: under the widest capabilities the same strategy *does* draw a violating case
  (``hypothesis.find``), so the restricted test can fail;
- planted: a strategy made to ignore the flag (monkeypatched to see the widest value of the flag)
  fails the restricted test -- the restricted test run against a mutant.

And the table covers every (strategy, flag) pair the strategies' source reads, so a new flag without a
row fails here.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from bnconform.adapters.base import Capabilities
from bnconform import strategies

from .capability_table import NOT_COVERED, ROWS, STRATEGIES, WIDEST

SETTINGS = settings(max_examples=60, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
# the same examples, stopping at the first violation without shrinking it (which only costs time here)
SEARCH = settings(SETTINGS, phases=[Phase.generate])

PAIRS = [pytest.param(row, name, id=f"{row.id}-{name}") for row in ROWS for name in row.strategies]


def _cases(drawn):
    return drawn if isinstance(drawn, tuple) else (drawn,)


def assert_respects(row, name: str, caps: Capabilities, profile: settings = SETTINGS) -> None:
    """Draw from strategy ``name`` under ``caps``; raise AssertionError on a case ``row`` forbids."""

    @profile
    @given(STRATEGIES[name](caps, **row.options))
    def check(drawn):
        for case in _cases(drawn):
            assert not row.violates(case), f"{name} under {row.id} drew {case.dumps()}"

    check()


@pytest.mark.parametrize("row, name", PAIRS)
def test_restricted_strategy_draws_nothing_the_flag_refuses(row, name):
    assert_respects(row, name, row.restricted())


@pytest.mark.parametrize("row, name", PAIRS)
def test_open_strategy_draws_what_the_flag_would_refuse(row, name):
    """Without the restriction the strategy reaches the case, so the restricted test is not vacuous."""
    with pytest.raises(AssertionError, match=f"{name} under"):
        assert_respects(row, name, WIDEST, SEARCH)


@pytest.mark.parametrize("row, name", PAIRS)
def test_a_strategy_that_ignores_the_flag_fails_the_restricted_test(row, name, monkeypatch):
    """The planted mutant: the strategy is called with the row's fields put back to their widest values
    (it ignores the flag); the restricted test must then fail."""
    real = getattr(strategies, name)
    widest = {field: getattr(WIDEST, field) for field in row.restrict}

    def ignoring_the_flag(caps, *args, **kwargs):
        return real(dataclasses.replace(caps, **widest), *args, **kwargs)

    monkeypatch.setattr(strategies, name, ignoring_the_flag)
    with pytest.raises(AssertionError, match=f"{name} under"):
        assert_respects(row, name, row.restricted(), SEARCH)


def _caps_reads() -> set[tuple[str, str]]:
    """(function, flag) for every ``caps.<flag>`` read in a top-level function of ``bnconform.strategies``."""
    tree = ast.parse(inspect.getsource(strategies))
    pairs = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "caps":
                    pairs.add((node.name, sub.attr))
    return pairs


def test_table_covers_every_flag_a_strategy_reads():
    reads = _caps_reads()
    assert {name for name, _ in reads} == set(STRATEGIES), "a function of bnconform.strategies takes caps: add it"
    covered = {(name, row.flag) for row in ROWS for name in row.strategies}
    missing = sorted(pair for pair in reads - covered if pair[1] not in NOT_COVERED)
    assert not missing, f"(strategy, flag) read by bnconform.strategies with no row in capability_table: {missing}"
    claimed = covered - reads
    assert not claimed, f"rows claim strategies read flags they do not: {sorted(claimed)}"


def test_table_names_only_capability_fields():
    fields = {f.name for f in dataclasses.fields(Capabilities)}
    for row in ROWS:
        assert row.flag in row.restrict and set(row.restrict) <= fields, row.id
        assert row.flag not in NOT_COVERED, row.id
        assert row.restricted() != WIDEST, f"{row.id}: the restriction is WIDEST's own value"
