"""The one table of conformance properties.

Every property the suite records is a row of :data:`TABLE`: its name (the ``property`` of a
results record, of a known-deviation entry and of ``bnconform replay``), the op it exercises (one
name per op: ``batch_norm``, ``conv2d``, ``pool2d``; a pooling kind is a separate field, ``kind``),
the modes it is run in, its dtypes, the ``bnconform.strategies`` function that draws its cases, the
``bnconform.checks`` halves (run, judge) that decide an example, and what the adapter must offer
beyond the op.

Everything else is driven from here: the conformance tests' markers and parametrization
(``bnconform/conformance``), ``checks.run``/``checks.judge`` (and so ``bnconform replay``), the
benchmark (``benchmarks/per_example.py``), the known-deviations loader's check that an entry's
``property`` names a row (``bnconform/reports/deviations.py``) and the models' lists of what they judge.
``tests/properties/test_table.py`` checks that every row is collected.

Every row with a strategy is run by one generic test (OpInfo's pattern:
``bnconform/conformance/test_properties.py``), over its modes, dtypes and kinds, and at production size
when ``production`` says so: a new property is a new row (and, where needed, its strategy). A
property whose row has no strategy is a probe: its test builds its own example (the fingerprint's
conventions, a fresh layer's state, the math-mode probe, the drift corpus).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from . import checks, masked_checks, strategies, synchronized_checks
from .cases import MODES, OPS, POOL_KINDS  # noqa: F401 - the table's vocabulary, defined once in cases
from .dtypes import DTYPES

#: The dtypes of the production-size tests (``test_property_at_production_size`` in ``bnconform/conformance/test_properties.py``): float32, and
#: both half-precision formats, whose long reductions are furthest from float64 (float16 has the
#: shorter range, bfloat16 the shorter significand: a bug can show in one and not the other).
PRODUCTION_DTYPES = ("float32", "float16", "bfloat16")


def _no_options(adapter, kind: str | None) -> dict[str, Any]:
    return {}


def _nothing_required(adapter) -> str | None:
    return None


@dataclass(frozen=True)
class Property:
    """One row of the table.

    - ``name``: the property (records, known deviations, replay);
    - ``op``: one of :data:`OPS`, or a probe's own label (``corpus``);
    - ``modes``: the ``mode`` values the conformance test is parametrized with;
    - ``kinds``: the pooling kinds (empty for other ops);
    - ``dtypes``: the dtypes parametrized; each is then narrowed at run time to what the adapter
      offers for ``op`` (``Capabilities.op_dtypes``), with the reason of a skip;
    - ``strategy``: the ``bnconform.strategies`` function drawing cases (None: a probe);
    - ``options(adapter, kind)``: the strategy's keyword arguments beyond the capabilities and dtype;
    - ``requires(adapter)``: why the adapter cannot be checked for it beyond op/dtype/mode (a skip
      reason), else None;
    - ``check``: the ``checks.Check`` halves (None: a probe judged by its own test);
    - ``needs``: the optional adapter call its check makes (``bnconform.adapters.contract.OPTIONAL``),
      None for none: an adapter offering the op without it skips the property with the reason, and
      ``checks.run`` refuses it (a replay);
    - ``draw``: how one example is drawn, ``draw(row, data, adapter, dtype, mode, kind) -> (case,
      mode)`` (None: a case from ``cases``, in the mode parametrized; a call sequence draws its calls,
      which become the example's mode);
    - ``benchmark``: the modes ``benchmarks/per_example.py`` times (empty: not timed);
    - ``production``: whether a production-size case runs it (``strategies.production_cases``).
    """

    name: str
    op: str
    modes: tuple[str, ...]
    strategy: Callable | None = None
    check: Any = None  # checks.Check
    kinds: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = DTYPES
    options: Callable[[Any, str | None], Mapping[str, Any]] = field(default=_no_options, repr=False)
    requires: Callable[[Any], str | None] = field(default=_nothing_required, repr=False)
    needs: str | None = None
    draw: Callable | None = field(default=None, repr=False)
    benchmark: tuple[str, ...] = ()
    production: bool = False

    def cases(self, adapter, dtype: str, kind: str | None = None):
        """The Hypothesis strategy of this property's cases for ``adapter`` at ``dtype``."""
        if self.strategy is None:
            raise ValueError(f"property {self.name!r} is a probe: it draws no cases")
        if kind is not None and kind not in self.kinds:
            raise ValueError(f"property {self.name!r}: kind {kind!r} is not one of {self.kinds}")
        kwargs = dict(self.options(adapter, kind))
        if kind is not None:
            kwargs["kind"] = kind
        return self.strategy(adapter.capabilities, dtype=dtype, **kwargs)

    def example(self, data, adapter, dtype: str, mode: str, kind: str | None = None):
        """One drawn example, ``(case, mode)``, with Hypothesis's ``data`` (``st.data()``)."""
        if self.draw is not None:
            return self.draw(self, data, adapter, dtype, mode, kind)
        return data.draw(self.cases(adapter, dtype, kind), label="case"), mode

    def production_kinds(self) -> tuple[str | None, ...]:
        """The kinds run at production size (``strategies.PRODUCTION_KINDS``); ``(None,)`` for an op
        without kinds, ``()`` for a row not run at production size."""
        if not self.production:
            return ()
        return tuple(k for k in self.kinds if k in strategies.PRODUCTION_KINDS) if self.kinds else (None,)


# -- what a property needs beyond its op ------------------------------------------------------


def _needs_gradients(adapter) -> str | None:
    return None if adapter.capabilities.bn_backward else f"{adapter.name} offers no gradients"


def _odd_p(adapter) -> tuple[float, ...]:
    return tuple(p for p in adapter.capabilities.pool_lp_p if p % 2 == 1)


def _needs_odd_p(adapter) -> str | None:
    return None if _odd_p(adapter) else f"{adapter.name} offers no odd p for Lp pooling"


def _needs_masks(adapter) -> str | None:
    return None if adapter.capabilities.bn_masks else (
        f"{adapter.name} offers no mask argument to batch norm (Keras's call(x, training, mask) has one)")


def _needs_synchronized(adapter) -> str | None:
    """A synchronized batch norm offered (``Capabilities.bn_synchronized``) and not refused here
    (``synchronized_refusal``: torch.nn.SyncBatchNorm refuses CPU tensors, for instance)."""
    if not adapter.capabilities.bn_synchronized:
        return f"{adapter.name} offers no synchronized (cross-replica) batch norm"
    refusal = getattr(adapter, "synchronized_refusal", None)
    return refusal() if callable(refusal) else None


def _needs_ceil_mode(adapter) -> str | None:
    return None if adapter.capabilities.pool_ceil_mode else f"{adapter.name} offers no ceil_mode"


# -- the strategies' options ------------------------------------------------------------------


#: the options drawn where moving statistics are read: without running statistics there are none
_WITH_RUNNING_STATS = ("affine", "scale", "center", "trainable")


def _moving_stats_options(adapter, kind):
    return dict(max_steps=4, momentum_none=adapter.conventions.momentum_none, flags=_WITH_RUNNING_STATS)


def _call_sequence_options(adapter, kind):
    """A call sequence switches modes on one layer: drawn with gamma and beta on or off, frozen or not
    (Keras's ``trainable=False``: every call then normalizes with the moving statistics and leaves them),
    and always with running statistics (``bn_forward`` checks a layer without them)."""
    return dict(momentum_none=adapter.conventions.momentum_none, flags=("affine", "scale", "center", "trainable"))


def _call_sequence_example(row, data, adapter, dtype, mode, kind):
    """The calls first (``strategies.call_sequences``), then a case with one batch per call; the
    example's mode is the sequence (``train,inference,train``)."""
    calls = data.draw(strategies.call_sequences(adapter.conventions.call_without_flag), label="calls")
    case = data.draw(row.cases(adapter, dtype), label="case")
    return dataclasses.replace(case, steps=len(calls)), ",".join(calls)


def _pool_options(adapter, kind):
    """Lp pooling in the plain property: p = 2 (the L2 pooling of the course slides), floor mode."""
    return dict(lp_p=(2.0,), ceil_mode=False) if kind == "lp" else {}


_BN = dict(op="batch_norm", strategy=strategies.bn_cases)
_POOL = dict(op="pool2d", strategy=strategies.pool_cases)

TABLE: tuple[Property, ...] = (
    # y with batch (train) or moving (inference) statistics
    Property("bn_forward", modes=MODES, check=checks.BN_FORWARD, benchmark=MODES, production=True, **_BN),
    # the same on ill-conditioned batches (large offset, constant feature, variance near eps)
    Property("bn_forward_adversarial", modes=MODES, check=checks.BN_FORWARD,
             options=lambda adapter, kind: dict(adversarial=True), **_BN),
    # dx, dgamma, dbeta against the closed-form backward pass
    Property("bn_backward", modes=MODES, check=checks.BN_BACKWARD, requires=_needs_gradients,
             benchmark=("train",), production=True, **_BN),
    # moving statistics after k training calls, in the framework's convention
    Property("bn_moving_stats", modes=("train",), check=checks.BN_MOVING_STATS, options=_moving_stats_options,
             benchmark=("train",), production=True, **_BN),
    # an inference call leaves the moving statistics bit for bit
    Property("bn_inference_keeps_stats", modes=("inference",), check=checks.BN_INFERENCE_KEEPS_STATS,
             options=lambda adapter, kind: dict(flags=_WITH_RUNNING_STATS), **_BN),
    # one layer through train/inference/flagless calls (the example's mode is the sequence)
    Property("bn_call_sequence", modes=("-",), check=checks.BN_CALL_SEQUENCE, options=_call_sequence_options,
             needs="bn_sequence", draw=_call_sequence_example, **_BN),
    # y and the moving statistics of a layer called with a (broadcast) mask: statistics of the unmasked values
    Property("bn_masked", op="batch_norm", modes=MODES, strategy=strategies.bn_masked_cases,
             check=masked_checks.BN_MASKED, requires=_needs_masks, needs="bn_masked"),
    # a synchronized (cross-replica) batch norm on one replica: y, gradients, moving statistics as the plain layer's
    Property("bn_synchronized", op="batch_norm", modes=("train",), strategy=strategies.bn_plain_or_adversarial_cases,
             check=synchronized_checks.BN_SYNCHRONIZED, requires=_needs_synchronized, needs="bn_synchronized",
             options=lambda adapter, kind: dict(max_steps=2)),
    # cross-correlation, every padding, stride, dilation, groups and layout offered
    Property("conv2d", op="conv2d", modes=("-",), strategy=strategies.conv_cases, check=checks.CONV2D,
             benchmark=("-",), production=True),
    # max, average, global average and Lp (p = 2, floor mode) pooling
    Property("pool2d", modes=("-",), kinds=POOL_KINDS, check=checks.POOL2D, options=_pool_options,
             benchmark=("-",), production=True, **_POOL),
    # NaN and infinities through max and average pooling
    Property("pool2d_nonfinite", modes=("-",), kinds=("max", "avg"), check=checks.POOL2D,
             options=lambda adapter, kind: dict(specials=True), **_POOL),
    # Lp pooling with odd p on signed inputs
    Property("pool2d_lp_odd_p", modes=("-",), kinds=("lp",), check=checks.POOL2D, requires=_needs_odd_p,
             options=lambda adapter, kind: dict(lp_p=_odd_p(adapter), ceil_mode=False), **_POOL),
    # Lp pooling in ceil mode (border windows cut short)
    Property("pool2d_lp_ceil_mode", modes=("-",), kinds=("lp",), check=checks.POOL2D, requires=_needs_ceil_mode,
             options=lambda adapter, kind: dict(lp_p=(2.0,), ceil_mode=True), **_POOL),
    # probes: each test builds its own example
    # the declared batch-norm conventions, as the fingerprint measures them
    Property("conventions", op="batch_norm", modes=("-",), dtypes=("float32",), check=checks.CONVENTIONS),
    # a fresh layer holds gamma 1, beta 0, moving mean 0, moving variance 1
    Property("bn_fresh_state", op="batch_norm", modes=("-",), dtypes=("float32",)),
    # the probe convolution in full float32 reads float32
    Property("math_mode_probe", op="conv2d", modes=("-",), dtypes=("float32",)),
    # the drift corpus's outputs, recorded and checked
    Property("drift_corpus", op="corpus", modes=("-",), dtypes=("float32",)),
)

PROPERTIES: dict[str, Property] = {p.name: p for p in TABLE}
if len(PROPERTIES) != len(TABLE):  # pragma: no cover - a typo in the table above
    raise RuntimeError("bnconform.properties: duplicate property names in TABLE")


def get(name: str) -> Property:
    """The row named ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return PROPERTIES[name]
    except KeyError:
        raise ValueError(f"property: expected one of {', '.join(PROPERTIES)}, got {name!r}") from None


def names(*, op: str | None = None, checked: bool | None = None) -> tuple[str, ...]:
    """The properties' names, in table order; ``op`` keeps one op's, ``checked=True`` those with
    ``checks`` halves (replayable), ``False`` the rest."""
    return tuple(p.name for p in TABLE
                 if (op is None or p.op == op) and (checked is None or (p.check is not None) == checked))
