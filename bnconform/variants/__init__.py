"""Known deviations as executable models: what a framework computes instead of the reference.

Every entry of ``known_deviations.toml`` names a *variant* here (``model = "..."``, with its
``params``). A failing example counts as the known deviation only when the framework's outputs
agree with what the variant computes, within the variant's own tolerance; any other failing example
is a new failure. Two kinds:

- reference variants: other math (max pooling that skips NaN, Lp pooling without the absolute
  value, a moving variance fed the unbiased batch variance, ...) under the standard tolerance model;
- tolerance variants: the reference's math, with the tolerance model evaluated with other numerics
  (``bnconform.tolerance.Numerics``: a float64 layer computing in float32, sums accumulated in half
  precision, the one-pass variance term).

One small module per variant, each citing the mechanism it models. A variant judges an
:class:`bnconform.checks.Example` -- the same actual outputs the property judged -- and returns one
``Comparison`` per output, so the framework is never called again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from ..checks import Check, Example
from ..compare import Comparison

__all__ = ["Param", "Variant", "NotModelled", "REGISTRY", "get", "check_params", "judge", "properties_judged"]


class NotModelled(ValueError):
    """The variant does not judge this example's check (e.g. a pooling variant on batch norm)."""


@dataclass(frozen=True)
class Param:
    """One parameter a variant takes: its check, default and meaning (shown in errors and the report)."""

    doc: str
    check: Callable[[Any], bool]
    expected: str  # what ``check`` accepts, in words
    default: Any = None


class Variant(Protocol):
    """What every variant module provides (each module is one variant)."""

    NAME: str
    KIND: str  # "reference" or "tolerance"
    #: the checks it judges again (``bnconform.checks.Check``: each fixes the outputs), whatever the
    #: property that drew the example: a model never branches on property names
    CHECKS: tuple[Check, ...]
    PARAMS: Mapping[str, Param]

    def judge(self, example: Example, **params: Any) -> list[Comparison]:
        """The example's actual outputs against what the variant computes, under its tolerance."""


def _registry() -> dict[str, Variant]:
    from . import (
        bias_along_last_axis,
        float32_compute,
        half_precision_accumulation,
        lp_pool_ceil_rescaled,
        lp_pool_signed,
        momentum_rounded,
        nan_skipping_max_pool,
        one_pass_variance,
        probe_4d_unbiased_running_variance,
        same_padding_replicated_edges,
        tf32_inputs,
        unbiased_moving_variance,
    )

    modules = (
        bias_along_last_axis, float32_compute, half_precision_accumulation, lp_pool_ceil_rescaled, lp_pool_signed, momentum_rounded,
        nan_skipping_max_pool, one_pass_variance, probe_4d_unbiased_running_variance,
        same_padding_replicated_edges, tf32_inputs, unbiased_moving_variance,
    )
    return {module.NAME: module for module in modules}


REGISTRY: dict[str, Variant] = _registry()


def get(name: str) -> Variant:
    """The variant called ``name`` (ValueError naming the known ones)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def check_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` validated against the variant's parameters, defaults filled in (ValueError)."""
    variant = get(name)
    unknown = sorted(set(params) - set(variant.PARAMS))
    if unknown:
        takes = ", ".join(sorted(variant.PARAMS)) or "no parameters"
        raise ValueError(f"model {name!r} takes {takes}; unknown parameter(s) {', '.join(unknown)}")
    out = {}
    for key, spec in variant.PARAMS.items():
        if key in params:
            if not spec.check(params[key]):
                raise ValueError(f"model {name!r}: parameter {key} must be {spec.expected}, got {params[key]!r}")
            out[key] = params[key]
        else:
            out[key] = spec.default
    return out


def _check_names(variant: Variant) -> str:
    return ", ".join(check.name for check in variant.CHECKS)


def judge(name: str, params: Mapping[str, Any], example: Example) -> list[Comparison]:
    """Judge ``example`` with the variant ``name`` (NotModelled if it does not judge the example's check)."""
    variant = get(name)
    if example.check not in variant.CHECKS:
        raise NotModelled(f"model {name!r} judges the checks {_check_names(variant)}, "
                          f"not {example.check.name} (property {example.prop})")
    return variant.judge(example, **check_params(name, params))


def properties_judged(name: str) -> tuple[str, ...]:
    """The properties whose check the variant ``name`` judges, in the table's order."""
    from .. import properties  # the table imports the checks, as the variants do

    variant = get(name)
    return tuple(row.name for row in properties.TABLE if row.check in variant.CHECKS)
