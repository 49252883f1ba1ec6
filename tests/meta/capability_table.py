"""The one table of capability restrictions the strategy meta-tests check (``test_strategy_capabilities``).

Each row restricts one flag of ``bnconform.adapters.base.Capabilities`` (a few rows set a second field the
restriction needs, e.g. ``bn_any_axis=False`` with ``bn_axes``), names the strategies of
``bnconform.strategies`` that read the flag, and says what a drawn case that ignores the restriction
looks like (``violates``). Everything else is ``WIDEST``: every option on, so the same strategy
*without* the restriction can draw the violating case, and the meta-test can fail.

When ``Capabilities`` changes (a flag renamed, a new one added), this table is the one place to adapt:
``test_table_covers_every_flag_a_strategy_reads`` reads the strategies' source and fails for a pair
(strategy, flag) that no row covers. ``dtypes`` is not read by any strategy either: the
dtype is an argument of each strategy, chosen by the conformance tests (``bnconform/conformance/conftest.require``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from hypothesis import strategies as st

from bnconform.adapters.base import Capabilities
from bnconform import cases, dtypes, shapes, strategies

# Every option offered: the flags whose default is the restricted value are opened here.
_FORMATS, _PADDINGS = ("channels_last", "channels_first"), ("valid", "same", "explicit")
WIDEST = Capabilities(  # capabilities are declared positively (the defaults offer nothing): every option named
    ops=("batch_norm", "conv2d", "pool2d"), dtypes=("float32",), bn_modes=("train", "inference"), bn_backward=True,
    bn_ranks=(2, 3, 4, 5), bn_any_axis=True, bn_axes=(-1, 1), bn_flags=cases.BN_FLAGS, conv_data_formats=_FORMATS, conv_paddings=_PADDINGS,
    conv_same_strided=True, conv_dilated_strided=True, conv_groups=True, conv_dilation=True, conv_bias=True,
    pool_kinds=("max", "avg", "lp", "global_avg"), pool_data_formats=_FORMATS, pool_paddings=_PADDINGS,
    pool_lp_paddings=_PADDINGS, pool_lp_p=(1.0, 2.0, 3.0), pool_ceil_mode=True, pool_count_include_pad=(False, True))


# -- the strategies, drawn over every dtype and every option they take besides the capabilities --------
# Each looks its strategy up on the module at call time, so that a test can monkeypatch it.


def bn(caps):
    return st.tuples(st.sampled_from(dtypes.DTYPES), st.booleans(), st.booleans()).flatmap(
        lambda t: strategies.bn_cases(caps, dtype=t[0], adversarial=t[1], momentum_none=t[2], max_steps=3))


def conv(caps):
    return st.sampled_from(dtypes.DTYPES).flatmap(lambda d: strategies.conv_cases(caps, dtype=d))


def pool(caps, kinds=cases.POOL_KINDS):
    return st.tuples(st.sampled_from(kinds), st.sampled_from(dtypes.DTYPES), st.booleans()).flatmap(
        lambda t: strategies.pool_cases(caps, kind=t[0], dtype=t[1], specials=t[2]))


def production(caps):
    """Every production-size case ``caps`` offers (``strategies.production_keys``) for a drawn dtype,
    as a tuple."""
    return st.sampled_from(dtypes.DTYPES).flatmap(
        lambda d: strategies.production_cases(caps, dtype=d).map(lambda found: tuple(found.values())))


#: the functions of ``bnconform.strategies`` that take ``caps``, and how to draw from each
STRATEGIES: dict[str, Callable[[Capabilities], st.SearchStrategy]] = {
    "bn_cases": bn,
    "conv_cases": conv,
    "pool_cases": pool,
    "production_cases": production,
    "production_keys": production,  # which production cases are drawn: read through production_cases
}


# -- predicates ------------------------------------------------------------------------------------------


def _bn4(case) -> bool:
    return isinstance(case, cases.BNCase) and len(case.shape) == 4


def _bn_nd(case) -> bool:
    """A batch-norm case of rank 3 or more (a feature axis is chosen)."""
    return isinstance(case, cases.BNCase) and len(case.shape) > 2


def _explicit(padding) -> bool:
    return not isinstance(padding, str)


@dataclass(frozen=True)
class Row:
    id: str
    flag: str  # the Capabilities field the row is about
    restrict: dict[str, Any]  # Capabilities fields set on WIDEST (the flag, and any field it needs)
    violates: Callable[[Any], bool]  # a case the restricted capabilities must never produce
    strategies: tuple[str, ...]  # keys of STRATEGIES that read the flag
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  # for STRATEGIES[name] (pool: kinds)

    def restricted(self) -> Capabilities:
        return dataclasses.replace(WIDEST, **self.restrict)


ROWS = (
    # operations and kinds (production_cases; the conformance tests gate the other strategies on these)
    Row("ops=conv2d", "ops", dict(ops=("conv2d",)), lambda c: c.op != "conv2d", ("production_keys",)),
    Row("pool_kinds=max", "pool_kinds", dict(pool_kinds=("max",)),
        lambda c: isinstance(c, cases.PoolCase) and c.kind != "max", ("production_keys",)),
    # batch norm
    Row("bn_ranks=4", "bn_ranks", dict(bn_ranks=(4,)),
        lambda c: isinstance(c, cases.BNCase) and len(c.shape) != 4, ("bn_cases",)),
    Row("bn_ranks=2", "bn_ranks", dict(bn_ranks=(2,)),
        lambda c: isinstance(c, cases.BNCase) and len(c.shape) != 2, ("bn_cases", "production_keys")),
    Row("bn_ranks=3", "bn_ranks", dict(bn_ranks=(3,)),
        lambda c: isinstance(c, cases.BNCase) and len(c.shape) != 3, ("bn_cases",)),
    Row("bn_ranks=5", "bn_ranks", dict(bn_ranks=(5,)),
        lambda c: isinstance(c, cases.BNCase) and len(c.shape) != 5, ("bn_cases",)),
    Row("bn_any_axis=False,bn_axes=1", "bn_any_axis", dict(bn_any_axis=False, bn_axes=(1,)),
        lambda c: _bn_nd(c) and c.axis % len(c.shape) != 1, ("bn_cases", "production_cases")),
    Row("bn_axes=2", "bn_axes", dict(bn_any_axis=False, bn_axes=(2,)),
        lambda c: _bn4(c) and c.axis % 4 != 2, ("bn_cases", "production_cases")),
    Row("bn_flags=()", "bn_flags", dict(bn_flags=()),
        lambda c: isinstance(c, cases.BNCase) and bool(c.flags()), ("bn_cases",)),
    Row("bn_flags=affine", "bn_flags", dict(bn_flags=("affine",)),
        lambda c: isinstance(c, cases.BNCase) and (c.scale != c.center or not c.track_running_stats or not c.trainable),
        ("bn_cases",)),
    Row("bn_min_values_per_feature=3", "bn_min_values_per_feature", dict(bn_min_values_per_feature=3),
        lambda c: isinstance(c, cases.BNCase) and shapes.values_per_feature(c.shape, c.axis) < 3, ("bn_cases",)),
    # convolution
    Row("conv_data_formats=channels_first", "conv_data_formats", dict(conv_data_formats=("channels_first",)),
        lambda c: isinstance(c, cases.ConvCase) and c.data_format != "channels_first",
        ("conv_cases", "production_cases")),
    Row("conv_paddings=valid", "conv_paddings", dict(conv_paddings=("valid",)),
        lambda c: isinstance(c, cases.ConvCase) and c.padding != "valid", ("conv_cases", "production_cases")),
    Row("conv_paddings=explicit", "conv_paddings", dict(conv_paddings=("explicit",)),
        lambda c: isinstance(c, cases.ConvCase) and not _explicit(c.padding), ("conv_cases", "production_cases")),
    Row("conv_same_strided=False", "conv_same_strided", dict(conv_same_strided=False),
        lambda c: isinstance(c, cases.ConvCase) and c.padding == "same" and c.stride != (1, 1),
        ("conv_cases", "production_cases")),
    Row("conv_dilated_strided=False", "conv_dilated_strided", dict(conv_dilated_strided=False),
        lambda c: isinstance(c, cases.ConvCase) and c.dilation != (1, 1) and c.stride != (1, 1),
        ("conv_cases", "production_cases")),
    Row("conv_groups=False", "conv_groups", dict(conv_groups=False),
        lambda c: isinstance(c, cases.ConvCase) and c.groups != 1, ("conv_cases",)),
    Row("conv_dilation=False", "conv_dilation", dict(conv_dilation=False),
        lambda c: isinstance(c, cases.ConvCase) and c.dilation != (1, 1), ("conv_cases", "production_cases")),
    Row("conv_bias=False", "conv_bias", dict(conv_bias=False),
        lambda c: isinstance(c, cases.ConvCase) and c.bias, ("conv_cases", "production_cases")),
    # pooling
    Row("pool_data_formats=channels_first", "pool_data_formats", dict(pool_data_formats=("channels_first",)),
        lambda c: isinstance(c, cases.PoolCase) and c.data_format != "channels_first",
        ("pool_cases", "production_cases")),
    Row("pool_paddings=valid", "pool_paddings", dict(pool_paddings=("valid",)),
        lambda c: isinstance(c, cases.PoolCase) and c.kind in ("max", "avg") and c.padding != "valid",
        ("pool_cases",), dict(kinds=("max", "avg"))),
    Row("pool_lp_paddings=valid", "pool_lp_paddings", dict(pool_lp_paddings=("valid",)),
        lambda c: isinstance(c, cases.PoolCase) and c.kind == "lp" and c.padding != "valid", ("pool_cases",),
        dict(kinds=("lp",))),
    Row("pool_symmetric_padding=True", "pool_symmetric_padding", dict(pool_symmetric_padding=True),
        lambda c: isinstance(c, cases.PoolCase) and _explicit(c.padding) and any(lo != hi for lo, hi in c.padding),
        ("pool_cases",)),
    Row("pool_ceil_mode=False", "pool_ceil_mode", dict(pool_ceil_mode=False),
        lambda c: isinstance(c, cases.PoolCase) and c.ceil_mode, ("pool_cases",)),
    Row("pool_count_include_pad=False", "pool_count_include_pad", dict(pool_count_include_pad=(False,)),
        lambda c: isinstance(c, cases.PoolCase) and c.count_include_pad, ("pool_cases",),
        dict(kinds=("avg",))),
    Row("pool_count_include_pad=True", "pool_count_include_pad", dict(pool_count_include_pad=(True,)),
        lambda c: isinstance(c, cases.PoolCase) and c.kind == "avg" and _explicit(c.padding)
        and not c.count_include_pad, ("pool_cases",), dict(kinds=("avg",))),
    Row("pool_lp_p=1", "pool_lp_p", dict(pool_lp_p=(1.0,)),
        lambda c: isinstance(c, cases.PoolCase) and c.kind == "lp" and c.p != 1.0, ("pool_cases",),
        dict(kinds=("lp",))),
)

#: flags a strategy reads that deliberately have no row
NOT_COVERED: frozenset[str] = frozenset()  # flags a strategy reads that no row covers (none)
