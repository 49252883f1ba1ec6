"""Known deviations as executable models: what a framework computes instead of the reference.

Every entry of ``known_deviations.toml`` names a *model* here (``model = "..."``, with its
``params``). A failing example counts as the known deviation only when the framework's outputs
agree with what the model computes, within the model's own tolerance; any other failing example
is a new failure. Three sorts (``REPLACES``):

- reference models: other math (max pooling that skips NaN, Lp pooling without the absolute
  value, a moving variance fed the unbiased batch variance, ...) under the standard tolerance model;
- tolerance models: the reference's math, with the tolerance model evaluated with other numerics
  (``bnconform.tolerance.Numerics``: a float64 layer computing in float32, sums accumulated in half
  precision, the one-pass variance term);
- crash models (``"crash"``): the framework raises on a valid case; the model predicts which cases
  raise and how (``predict``: the exception's type and a pattern its message matches). A crash is
  explained only when the model predicts one for that case and the exception is the one predicted
  (:func:`judge_crash`); a crash model never explains outputs, nor an output model a crash.

One small module per model, each citing the mechanism it models. A model judges an
:class:`bnconform.checks.Example` -- the same actual outputs the property judged -- and returns one
``Comparison`` per output, so the framework is never called again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from ..checks import Check, Example
from ..compare import Comparison

__all__ = ["Param", "Model", "NotModelled", "CrashPrediction", "REGISTRY", "get", "check_params", "judge",
           "judge_crash", "properties_judged"]


class NotModelled(ValueError):
    """The model does not judge this example's check (e.g. a pooling model on batch norm)."""


@dataclass(frozen=True)
class Param:
    """One parameter a model takes: its check, default and meaning (shown in errors and the report)."""

    doc: str
    check: Callable[[Any], bool]
    expected: str  # what ``check`` accepts, in words
    default: Any = None


@dataclass(frozen=True)
class CrashPrediction:
    """What a crash model says of one case: the exception's type name (``IndexError``) and a regular
    expression found in its message (``re.search``: Keras wraps a layer's exception in lines of its
    own, "Exception encountered when calling ...", the backend's message inside), or ``exception`` None when it predicts no crash; ``why``
    names the case's feature that decides it."""

    exception: str | None
    message: str | None
    why: str

    def matches(self, exc: BaseException) -> tuple[bool, str]:
        """Whether ``exc`` is the crash predicted, and in words why (not)."""
        line = f"{type(exc).__name__}: {exc}"
        if self.exception is None:
            return False, f"predicts no crash for this case ({self.why}); the framework raised {line}"
        if type(exc).__name__ != self.exception:
            return False, f"predicts {self.exception} ({self.why}); the framework raised {line}"
        if re.search(self.message, str(exc)) is None:
            return False, f"predicts {self.exception} with a message matching {self.message!r}; the framework raised {line}"
        return True, f"predicts {line} ({self.why})"


class Model(Protocol):
    """What every model module provides (each module is one model)."""

    NAME: str
    REPLACES: str  # "reference" (other math), "tolerance" (the tolerance model with other numerics) or "crash"
    #: the checks it judges again (``bnconform.checks.Check``: each fixes the outputs), whatever the
    #: property that drew the example: a model never branches on property names
    CHECKS: tuple[Check, ...]
    PARAMS: Mapping[str, Param]

    def judge(self, example: Example, **params: Any) -> list[Comparison]:
        """The example's actual outputs against what the model computes, under its tolerance."""

    # a crash model ("crash") has instead: predict(case, mode, **params) -> CrashPrediction


def _registry() -> dict[str, Model]:
    from . import (
        bias_along_last_axis,
        float32_compute,
        half_precision_accumulation,
        lp_pool_ceil_rescaled,
        lp_pool_signed,
        mask_ignored,
        masked_count_epsilon,
        masked_one_feature_crash,
        momentum_rounded,
        nan_skipping_max_pool,
        one_pass_variance,
        probe_4d_unbiased_running_variance,
        same_padding_mod_stride,
        same_padding_mod_stride_crash,
        same_padding_replicated_edges,
        tf32_inputs,
        unbiased_moving_variance,
    )

    modules = (
        bias_along_last_axis, float32_compute, half_precision_accumulation, lp_pool_ceil_rescaled, lp_pool_signed,
        mask_ignored, masked_count_epsilon, masked_one_feature_crash, momentum_rounded,
        nan_skipping_max_pool, one_pass_variance, probe_4d_unbiased_running_variance,
        same_padding_mod_stride, same_padding_mod_stride_crash, same_padding_replicated_edges, tf32_inputs,
        unbiased_moving_variance,
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
    if model.REPLACES == "crash":
        raise NotModelled(f"model {name!r} is a crash model: it explains an exception the framework raised, "
                          "not outputs it returned")
    return model.judge(example, **check_params(name, params))


def judge_crash(name: str, params: Mapping[str, Any], check: Check, case: Any, mode: str,
                exc: BaseException) -> tuple[bool, str]:
    """Whether the crash model ``name`` explains ``exc``, raised running ``case`` in ``mode`` for a
    property of ``check``: it predicts a crash for this case, of this type, with a message matching
    (NotModelled for an output model, or a crash model of another check)."""
    model = get(name)
    if model.REPLACES != "crash":
        raise NotModelled(f"model {name!r} models outputs, not an exception: a crash is explained only by a crash model")
    if check not in model.CHECKS:
        raise NotModelled(f"model {name!r} predicts crashes of the checks {_check_names(model)}, not {check.name}")
    return model.predict(case, mode, **check_params(name, params)).matches(exc)


def properties_judged(name: str) -> tuple[str, ...]:
    """The properties whose check the model ``name`` judges, in the table's order."""
    from .. import properties  # the table imports the checks, as the models do

    model = get(name)
    return tuple(row.name for row in properties.TABLE if row.check in model.CHECKS)
