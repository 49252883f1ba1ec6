"""Known deviations as executable models: what a framework computes instead of the reference.

Every entry of ``known_deviations.toml`` names a *model* here (``model = "..."``, with its
``params``). A failing example counts as the known deviation only when the framework's outputs
agree with what the model computes, within the model's own tolerance; any other failing example
is a new failure. Two sorts (``REPLACES``):

- reference models: other math (max pooling that skips NaN, Lp pooling without the absolute
  value, a moving variance fed the unbiased batch variance, ...) under the standard tolerance model;
- tolerance models: the reference's math, with the tolerance model evaluated with other numerics
  (``bnconform.tolerance.Numerics``: a float64 layer computing in float32, sums accumulated in half
  precision, the one-pass variance term).

One small module per model, each citing the mechanism it models. A model judges an
:class:`bnconform.checks.Example` -- the same actual outputs the property judged -- and returns one
``Comparison`` per output, so the framework is never called again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from ..checks import Check, Example
from ..compare import Comparison

__all__ = ["Param", "Model", "NotModelled", "REGISTRY", "get", "check_params", "judge", "properties_judged"]


class NotModelled(ValueError):
    """The model does not judge this example's check (e.g. a pooling model on batch norm)."""


@dataclass(frozen=True)
class Param:
    """One parameter a model takes: its check, default and meaning (shown in errors and the report)."""

    doc: str
    check: Callable[[Any], bool]
    expected: str  # what ``check`` accepts, in words
    default: Any = None


class Model(Protocol):
    """What every model module provides (each module is one model)."""

    NAME: str
    REPLACES: str  # "reference" (other math) or "tolerance" (the tolerance model with other numerics)
    #: the checks it judges again (``bnconform.checks.Check``: each fixes the outputs), whatever the
    #: property that drew the example: a model never branches on property names
    CHECKS: tuple[Check, ...]
    PARAMS: Mapping[str, Param]

    def judge(self, example: Example, **params: Any) -> list[Comparison]:
        """The example's actual outputs against what the model computes, under its tolerance."""


def _registry() -> dict[str, Model]:
    from . import (
        bias_along_last_axis,
        float32_compute,
        half_precision_accumulation,
        lp_pool_ceil_rescaled,
        lp_pool_signed,
        mask_ignored,
        masked_count_epsilon,
        momentum_rounded,
        nan_skipping_max_pool,
        one_pass_variance,
        probe_4d_unbiased_running_variance,
        same_padding_replicated_edges,
        tf32_inputs,
        unbiased_moving_variance,
    )

    modules = (
        bias_along_last_axis, float32_compute, half_precision_accumulation, lp_pool_ceil_rescaled, lp_pool_signed,
        mask_ignored, masked_count_epsilon, momentum_rounded,
        nan_skipping_max_pool, one_pass_variance, probe_4d_unbiased_running_variance,
        same_padding_replicated_edges, tf32_inputs, unbiased_moving_variance,
    )
    return {module.NAME: module for module in modules}


REGISTRY: dict[str, Model] = _registry()


def get(name: str) -> Model:
    """The model called ``name`` (ValueError naming the known ones)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def check_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` validated against the model's parameters, defaults filled in (ValueError)."""
    model = get(name)
    unknown = sorted(set(params) - set(model.PARAMS))
    if unknown:
        takes = ", ".join(sorted(model.PARAMS)) or "no parameters"
        raise ValueError(f"model {name!r} takes {takes}; unknown parameter(s) {', '.join(unknown)}")
    out = {}
    for key, spec in model.PARAMS.items():
        if key in params:
            if not spec.check(params[key]):
                raise ValueError(f"model {name!r}: parameter {key} must be {spec.expected}, got {params[key]!r}")
            out[key] = params[key]
        else:
            out[key] = spec.default
    return out


def _check_names(model: Model) -> str:
    return ", ".join(check.name for check in model.CHECKS)


def judge(name: str, params: Mapping[str, Any], example: Example) -> list[Comparison]:
    """Judge ``example`` with the model ``name`` (NotModelled if it does not judge the example's check)."""
    model = get(name)
    if example.check not in model.CHECKS:
        raise NotModelled(f"model {name!r} judges the checks {_check_names(model)}, "
                          f"not {example.check.name} (property {example.prop})")
    return model.judge(example, **check_params(name, params))


def properties_judged(name: str) -> tuple[str, ...]:
    """The properties whose check the model ``name`` judges, in the table's order."""
    from .. import properties  # the table imports the checks, as the models do

    model = get(name)
    return tuple(row.name for row in properties.TABLE if row.check in model.CHECKS)
