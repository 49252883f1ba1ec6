"""Case specs: small frozen records that determine one example completely.

A case holds shapes, layout, dtype, hyper-parameters and, for each array, a ``Values`` recipe (a seed
and a distribution) instead of the numbers themselves. ``materialize`` turns a case into arrays,
deterministically, rounded to the case's dtype, so that the framework and the reference see exactly
the same numbers. A case's JSON (``to_json`` / ``from_json``) is what a failure reports and what
``bnconform replay`` takes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from bnconform.reference import batch_norm_options

from . import dtypes

#: The ops, one name each (``Capabilities.ops``, ``case.op``, a record's ``op``).
OPS = ("batch_norm", "conv2d", "pool2d")
#: The pooling kinds (``PoolCase.kind``, ``Capabilities.pool_kinds``, a pooling record's ``kind``).
POOL_KINDS = ("max", "avg", "global_avg", "lp")
#: Batch-norm modes (``Capabilities.bn_modes``); ``-`` is "no mode" (conv, pooling, a call sequence).
MODES = ("train", "inference")
#: The batch-norm constructor options a case can turn off (``Capabilities.bn_flags``), each named by the
#: framework keyword that turns it off: ``affine`` (PyTorch: gamma and beta together, ``BNCase.scale``
#: and ``BNCase.center``), ``scale`` and ``center`` (Keras; Flax's ``use_scale`` and ``use_bias``),
#: ``track_running_stats`` (PyTorch) and ``trainable`` (Keras: a frozen layer).
BN_FLAGS = ("affine", "scale", "center", "track_running_stats", "trainable")


@dataclass(frozen=True)
class Values:
    """How to draw one array: ``loc + scale * Z`` with Z from ``dist``, then special values.

    dist: ``"normal"`` (standard normal), ``"uniform"`` (on [-1, 1)), ``"ints"`` (integers in
    [-4, 4], exact in every format) or ``"constant"`` (Z = 0: every value is ``loc``).
    constant_feature: index of one feature (along the feature axis) held at ``loc``.
    specials: non-finite values written at seeded positions, e.g. ``("nan", "-inf")``.
    """

    seed: int = 0
    dist: str = "normal"
    loc: float = 0.0
    scale: float = 1.0
    constant_feature: int | None = None
    specials: tuple[str, ...] = ()

    def draw(self, shape: tuple[int, ...], dtype: str, feature_axis: int = -1) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        if self.dist == "normal":
            z = rng.standard_normal(shape)
        elif self.dist == "uniform":
            z = rng.uniform(-1.0, 1.0, shape)
        elif self.dist == "ints":
            z = rng.integers(-4, 5, shape).astype(np.float64)
        elif self.dist == "constant":
            z = np.zeros(shape)
        else:
            raise ValueError(f"dist: expected 'normal', 'uniform', 'ints' or 'constant', got {self.dist!r}")
        a = self.loc + self.scale * z
        if self.constant_feature is not None and len(shape) > 1:
            index = [slice(None)] * len(shape)
            index[feature_axis] = self.constant_feature % shape[feature_axis]
            a[tuple(index)] = self.loc
        for special in self.specials:
            a.flat[int(rng.integers(0, a.size))] = float(special)
        return dtypes.round_to(a, dtype)


def _tuple(v):
    return tuple(_tuple(x) for x in v) if isinstance(v, list) else v


@dataclass(frozen=True)
class Case:
    """Base of all cases: JSON round trip."""

    op: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["op"] = self.op
        return d

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))


@dataclass(frozen=True)
class BNCase(Case):
    """Batch normalization: ``steps`` training batches (or one inference batch).

    ``x`` draws batch i with seed ``x.seed + i``; gamma, beta, the initial moving statistics and
    the upstream gradient dy come from ``params_seed``. ``random_params=False`` uses a fresh layer's
    parameters (gamma 1, beta 0, moving mean 0, moving variance 1).

    The constructor options (all on by default, as every framework's layer is built):

    - ``scale``: gamma is applied (False: y = x_hat + beta, no gamma and no dgamma); ``center``: beta
      is added (False: no beta, no dbeta). PyTorch's ``affine=False`` is both False.
    - ``track_running_stats`` (PyTorch): False keeps no running statistics, and every call, in
      training or evaluation mode, normalizes with the batch statistics.
    - ``trainable`` (Keras): False freezes the layer, which then runs in inference mode even when
      called with ``training=True`` (moving statistics used and left as they are; gamma and beta
      constants, so no gradients of them).

    :meth:`batch_statistics` and :meth:`updates_moving` say what a call does under them.
    """

    op: ClassVar[str] = "batch_norm"
    shape: tuple[int, ...] = (4, 3)
    axis: int = -1
    dtype: str = "float32"
    eps: float = 1e-3
    momentum: float | None = 0.99
    steps: int = 1
    x: Values = field(default_factory=Values)
    params_seed: int = 0
    random_params: bool = True
    scale: bool = True
    center: bool = True
    track_running_stats: bool = True
    trainable: bool = True
    #: the shape of a mask (Keras's ``call(x, training, mask)``): x's shape without the feature axis,
    #: each size kept or 1 (broadcast); None: no mask. See :func:`mask_of`.
    mask: tuple[int, ...] | None = None

    @property
    def n_features(self) -> int:
        return self.shape[self.axis]

    def batch_statistics(self, training: bool) -> bool:
        """Whether a call with ``training`` normalizes with the batch statistics (else the moving ones):
        a training call of a layer that is not frozen, or any call of one without running statistics."""
        return batch_norm_options.uses_batch_statistics(training, track_running_stats=self.track_running_stats,
                                                        trainable=self.trainable)

    def updates_moving(self, training: bool) -> bool:
        """Whether a call with ``training`` moves the moving statistics."""
        return batch_norm_options.updates_moving_statistics(training, track_running_stats=self.track_running_stats,
                                                            trainable=self.trainable)

    def flags(self) -> dict[str, bool]:
        """The options turned off, by case field (empty for a default layer)."""
        return {name: False for name in ("scale", "center", "track_running_stats", "trainable")
                if not getattr(self, name)}


@dataclass(frozen=True)
class ConvCase(Case):
    """2-D convolution; ``x_shape`` is in ``data_format`` order, the kernel is OIHW."""

    op: ClassVar[str] = "conv2d"
    x_shape: tuple[int, int, int, int] = (1, 5, 5, 1)
    data_format: str = "channels_last"
    c_out: int = 1
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Any = "valid"  # "valid", "same" or ((top, bottom), (left, right))
    groups: int = 1
    bias: bool = False
    dtype: str = "float32"
    x: Values = field(default_factory=Values)
    w_seed: int = 0

    @property
    def c_in(self) -> int:
        return self.x_shape[3] if self.data_format == "channels_last" else self.x_shape[1]

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.c_out, self.c_in // self.groups, *self.kernel)

    def conv_kwargs(self) -> dict:
        return dict(
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            data_format=self.data_format,
        )


@dataclass(frozen=True)
class PoolCase(Case):
    """2-D pooling of kind max, avg, lp or global_avg; ``x_shape`` in ``data_format`` order."""

    op: ClassVar[str] = "pool2d"
    kind: str = "max"
    x_shape: tuple[int, int, int, int] = (1, 4, 4, 1)
    data_format: str = "channels_last"
    window: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: Any = "valid"
    ceil_mode: bool = False
    count_include_pad: bool = False
    p: float = 2.0
    dtype: str = "float32"
    x: Values = field(default_factory=Values)

    @property
    def feature_axis(self) -> int:
        return 3 if self.data_format == "channels_last" else 1


CASE_TYPES = {cls.op: cls for cls in (BNCase, ConvCase, PoolCase)}


def from_json(data: dict | str) -> Case:
    """Rebuild a case from its JSON (a dict or a string); unknown fields are an error."""
    if isinstance(data, str):
        data = json.loads(data)
    data = dict(data)
    op = data.pop("op", None)
    if op not in CASE_TYPES:
        raise ValueError(f"op: expected one of {sorted(CASE_TYPES)}, got {op!r}")
    cls = CASE_TYPES[op]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"case: unknown fields for {op}: {sorted(unknown)}")
    kwargs = {k: _tuple(v) for k, v in data.items()}
    if "x" in kwargs:
        x = dict(kwargs["x"])
        x["specials"] = tuple(x.get("specials", ()))
        kwargs["x"] = Values(**x)
    return cls(**kwargs)


# --------------------------------------------------------------------------------------------
# Materialization
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BNInputs:
    xs: tuple[np.ndarray, ...]  # one batch per training step (one for inference)
    gamma: np.ndarray
    beta: np.ndarray
    moving_mean: np.ndarray
    moving_var: np.ndarray
    dy: np.ndarray  # upstream gradient for the last batch
    mask: np.ndarray | None = None  # boolean, ``case.mask``'s shape, the same for every batch; None: none


def mask_of(case: BNCase) -> np.ndarray | None:
    """The case's mask (``case.mask``: x's shape without the feature axis, sizes kept or 1), drawn from
    ``params_seed``: each position unmasked with probability 3/4, and the first always unmasked, so
    that every feature has at least one value; None for a case without a mask. A mask that does not
    broadcast against x without its feature axis is a ``ValueError`` naming both shapes."""
    if case.mask is None:
        return None
    rest = tuple(s for i, s in enumerate(case.shape) if i != case.axis % len(case.shape))
    shape = tuple(case.mask)
    if len(shape) != len(rest) or any(m not in (1, r) for m, r in zip(shape, rest)):
        raise ValueError(f"mask: shape {shape} does not broadcast against x's shape {case.shape} without its "
                         f"feature axis {case.axis}, {rest} (each size must be kept or 1)")
    mask = np.random.default_rng([case.params_seed, 22]).random(shape) < 0.75
    mask.flat[0] = True
    return mask


def materialize_bn(case: BNCase) -> BNInputs:
    c = case.n_features
    xs = tuple(
        dataclasses.replace(case.x, seed=case.x.seed + i).draw(case.shape, case.dtype, case.axis)
        for i in range(max(case.steps, 1))
    )
    rng = np.random.default_rng(case.params_seed)
    if case.random_params:
        gamma = rng.normal(1.0, 0.5, c)
        beta = rng.normal(0.0, 1.0, c)
        moving_mean = rng.normal(0.0, 1.0, c)
        moving_var = rng.uniform(0.25, 2.0, c)
    else:
        gamma, beta, moving_mean, moving_var = np.ones(c), np.zeros(c), np.zeros(c), np.ones(c)
    dy = rng.standard_normal(case.shape)
    r = lambda a: dtypes.round_to(a, case.dtype)  # noqa: E731
    return BNInputs(xs, r(gamma), r(beta), r(moving_mean), r(moving_var), r(dy), mask_of(case))


@dataclass(frozen=True)
class ConvInputs:
    x: np.ndarray
    w: np.ndarray  # OIHW
    b: np.ndarray | None


def materialize_conv(case: ConvCase) -> ConvInputs:
    x = case.x.draw(case.x_shape, case.dtype)
    rng = np.random.default_rng(case.w_seed)
    fan_in = case.w_shape[1] * case.w_shape[2] * case.w_shape[3]
    w = dtypes.round_to(rng.standard_normal(case.w_shape) / np.sqrt(fan_in), case.dtype)
    b = dtypes.round_to(rng.standard_normal(case.c_out), case.dtype) if case.bias else None
    return ConvInputs(x, w, b)


def materialize_pool(case: PoolCase) -> np.ndarray:
    return case.x.draw(case.x_shape, case.dtype, case.feature_axis)
