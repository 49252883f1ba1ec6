"""The types adapters share: the base class, capabilities, conventions, what a call returns, and the
two load errors. The contract itself (the three ops and the optional calls) is ``bnconform.adapters.contract``.

An adapter takes a case spec and its materialized inputs (``bnconform.cases``: float64 arrays
whose values are exactly representable in ``case.dtype``), runs the framework in that dtype, and
returns float64 NumPy arrays. Arguments keep the reference's meaning everywhere: the feature axis
(``case.axis``), OIHW kernels, padding ``"valid"``/``"same"``/explicit pairs; the adapter translates
them into its framework's own terms, and states its framework's conventions in ``conventions``.

Momentum is the exception: ``case.momentum`` is passed to the framework as is, in the framework's
own meaning, which ``conventions.momentum`` names ("keras" or "torch", see ``bnconform.reference.moving_stats``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np

from bnconform.cases import BN_FLAGS, MODES, OPS  # noqa: F401 - the vocabulary adapters declare from
# Unavailable (not installed, or no such device: a skip) is raised by the engines' placements too,
# so it is defined with them, one layer down, and is the same class here
from bnconform.engines.base import Unavailable  # noqa: F401

from .contract import check


class Broken(Exception):
    """The adapter's framework is installed but does not load: its import, or the adapter's factory
    (which builds the framework's objects), raised. Not a skip: the tests of the target end in
    ``error`` with this message, and the gate fails naming the target and the exception.

    Deliberately not a subclass of :class:`Unavailable`, so that code written to skip an absent
    framework (``except Unavailable``) lets a broken one through as an error instead of hiding it.
    ``exc_type`` and ``exc_message`` are the original exception's class name and text.
    """

    def __init__(self, target: str, exc_type: str, exc_message: str, *, stage: str = "import"):
        self.target = target
        self.exc_type = exc_type
        self.exc_message = exc_message
        self.stage = stage
        what = "fails to import" if stage == "import" else "fails to build its adapter"
        super().__init__(f"{target}: installed but broken, {what}: {exc_type}: {exc_message}")

    def again(self) -> "Broken":
        """A fresh copy to raise once more (re-raising one instance would grow its traceback)."""
        copy = Broken(self.target, self.exc_type, self.exc_message, stage=self.stage)
        copy.__cause__ = self.__cause__
        return copy


@dataclass(frozen=True)
class Conventions:
    """What an adapter's framework means by its batch-norm arguments, as the adapter declares it.

    The fingerprint (``bnconform.adapters.fingerprint``) measures the same things by probes, so a declaration
    that is wrong shows up as a disagreement in the report.
    """

    momentum: str  # "keras": new = m*old + (1-m)*batch;  "torch": new = (1-m)*old + m*batch
    running_var: str  # "biased" (divide by m) or "unbiased" (divide by m - 1)
    default_eps: float
    default_momentum: float | None
    default_axis: int  # the feature axis a default layer normalizes, for a 4-D input
    momentum_none: bool = False  # True if momentum=None means the cumulative average
    # what a default layer does when called with no training flag: "train" (batch statistics, and the
    # moving statistics move), "inference" (moving statistics, left as they are), "refuses"; None: not declared
    call_without_flag: str | None = None
    notes: str = ""


@dataclass(frozen=True)
class Capabilities:
    """What the framework offers, declared positively: every default offers nothing, so an adapter
    states exactly the ops, dtypes and arguments it offers (and needs to state only those of its ops).

    Cases outside these are not generated; the few combinations these flags cannot describe are
    refused by ``Adapter.unsupported`` with the framework's reason. Two fields state a restriction
    rather than an offer and keep their names for the results files: ``bn_min_values_per_feature``
    and ``pool_symmetric_padding``.
    """

    ops: tuple[str, ...] = ()  # among OPS; each needs its method (bnconform.adapters.contract)
    dtypes: tuple[str, ...] = ()  # for every op offered
    bn_modes: tuple[str, ...] = ()  # among MODES
    bn_backward: bool = False
    bn_ranks: tuple[int, ...] = ()  # input ranks, among (2, 3, 4, 5): (N, C), sequences, images, volumes
    bn_any_axis: bool = False  # the ``axis`` argument takes any axis
    bn_axes: tuple[int, ...] = ()  # the feature axes offered when not ``bn_any_axis`` (e.g. (1,))
    bn_min_values_per_feature: int = 1  # PyTorch refuses training with 1
    # the constructor options a case may turn off, among cases.BN_FLAGS: "affine" (gamma and beta
    # together, PyTorch), "scale", "center" (Keras, Flax), "track_running_stats" (PyTorch), "trainable" (Keras)
    bn_flags: tuple[str, ...] = ()
    conv_data_formats: tuple[str, ...] = ()  # channels_last, channels_first
    conv_paddings: tuple[str, ...] = ()  # valid, same, explicit
    conv_same_strided: bool = False  # padding="same" together with stride > 1
    conv_dilated_strided: bool = False  # dilation > 1 together with stride > 1
    conv_groups: bool = False
    conv_dilation: bool = False
    conv_bias: bool = False
    pool_kinds: tuple[str, ...] = ()  # max, avg, lp, global_avg
    pool_data_formats: tuple[str, ...] = ()
    pool_paddings: tuple[str, ...] = ()  # valid, same, explicit (for max and avg)
    pool_symmetric_padding: bool = False  # explicit padding must be equal on both sides
    pool_lp_paddings: tuple[str, ...] = ()
    pool_ceil_mode: bool = False
    pool_count_include_pad: tuple[bool, ...] = ()  # average pooling over explicit padding: counted or not
    pool_lp_p: tuple[float, ...] = ()
    # batch norm called with a mask (Keras's call(x, training, mask); the adapter's ``bn_masked``)
    bn_masks: bool = False
    # a cross-replica (synchronized) batch norm, run on one replica (the adapter's ``bn_synchronized``)
    bn_synchronized: bool = False

    def op_dtypes(self, op: str) -> tuple[str, ...]:
        return tuple(self.dtypes) if op in self.ops else ()

    def as_dict(self) -> dict:
        """Every flag as plain JSON values (tuples become lists), for the results file."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}


class BNRun(NamedTuple):
    """What a batch-norm adapter call returns (float64 arrays; None where not asked for)."""

    y: np.ndarray  # output of the last call
    moving_mean: np.ndarray  # moving statistics after all calls
    moving_var: np.ndarray
    dx: np.ndarray | None = None  # gradients of sum(y * dy) for the last call
    dgamma: np.ndarray | None = None
    dbeta: np.ndarray | None = None


class LayerState(NamedTuple):
    """A freshly constructed default layer: its parameters and hyper-parameters as the framework sets them."""

    gamma: np.ndarray
    beta: np.ndarray
    moving_mean: np.ndarray
    moving_var: np.ndarray


class DefaultRun(NamedTuple):
    """One call of a layer built with every default, on a given input (for the fingerprint probes)."""

    initial: LayerState
    y: np.ndarray | None  # None if the framework raised; ``error`` holds the message
    moving_mean: np.ndarray | None
    moving_var: np.ndarray | None
    error: str | None = None


@dataclass
class Adapter:
    """Base class: name, framework, version, conventions and capabilities, placement, coverage and
    refusals. A subclass adds the method of every op it lists (``bnconform.adapters.contract``: ``bn``,
    ``conv2d``, ``pool2d``) and any of the optional ``bn_sequence``, ``bn_default``, ``bare_call``;
    a listed op without its method raises ``ContractError`` when the adapter is built."""

    name: str
    framework: str
    version: str
    conventions: Conventions | None  # None for an adapter without batch norm
    capabilities: Capabilities
    backend: str | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)
    #: where it runs (``bnconform.adapters.device.Placement``; set by ``bnconform.adapters.load``); None: the host, unplaced
    device: Any = None

    def placed(self):
        """A context manager inside which the framework makes layers, parameters and inputs on this
        adapter's device (``bnconform.adapters.device``); a no-op for an unplaced adapter."""
        return self.device.enter() if self.device is not None else contextlib.nullcontext()

    def device_record(self) -> dict:
        """``{"platform", "name"}`` of the device this adapter runs on (cpu when unplaced)."""
        return self.device.record() if self.device is not None else {"platform": "cpu", "name": "cpu"}

    def __post_init__(self):
        check(self)  # an op listed without its method fails here, when the adapter is built

    # -- what is offered ------------------------------------------------------------------------
    def unsupported(self, case) -> str | None:
        """Why this framework cannot run ``case`` (a documented restriction), or None."""
        return None

    def probes(self) -> dict[str, str | None]:
        """Every run-time probe this adapter makes of what the framework accepts *on this machine*,
        run now: ``{capability: None if offered, else the framework's refusal}``, e.g.
        ``{"conv2d channels_first float16": "keras 3.15.1 refuses ... NHWC ..."}``. ``unsupported``
        must refuse exactly the cases whose probe refused. Default: no probes (what is offered is
        fixed by ``capabilities``)."""
        return {}

    def coverage(self) -> dict:
        """What this adapter offered on this machine, for the results file (``observe.coverage``): its
        declared capabilities and each probe as ``{"offered": bool, "reason": str | None}``, with each
        batch-norm option (``batch_norm option affine``, ...: :meth:`bn_flag_refusals`) among the probes."""
        found = dict(self.probes())
        if "batch_norm" in self.capabilities.ops:
            found.update({f"batch_norm option {flag}": reason for flag, reason in self.bn_flag_refusals().items()})
        return {
            "available": True,
            "capabilities": self.capabilities.as_dict(),
            "probes": {name: {"offered": reason is None, "reason": reason} for name, reason in found.items()},
        }

    #: why a batch-norm option (``cases.BN_FLAGS``) is not drawn for this adapter, where the default
    #: sentence ("... does not offer ...") says too little
    bn_flag_reasons: ClassVar[dict] = {}

    def bn_flag_refusals(self) -> dict[str, str | None]:
        """Every batch-norm option (``cases.BN_FLAGS``): None where the strategies draw it
        (``Capabilities.bn_flags``), else why not (``bn_flag_reasons``, or that the adapter does not offer it)."""
        return {flag: None if flag in self.capabilities.bn_flags
                else self.bn_flag_reasons.get(flag, f"{self.name} does not offer the batch-norm option {flag}")
                for flag in BN_FLAGS}

    def dtype_refusal(self, op: str, dtype: str) -> str | None:
        """Why every case of ``op`` in ``dtype`` is refused although the capabilities list the dtype
        (a user's layer that cannot be built or called in it: the message it raised), or None. The
        properties skip the dtype with this reason instead of failing each example."""
        return None

    def describe(self) -> dict:
        return {"framework": self.framework, "version": self.version, "backend": self.backend}
