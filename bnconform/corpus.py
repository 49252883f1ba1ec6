"""The drift corpus: a fixed set of cases per op, replayed by every run.

Property tests draw different examples for different adapters; to see how far an op's output moved
between two versions of a framework, both versions must compute the very same examples. These cases
are fixed (seeded values, moderate shapes, every op and mode) and adapted to what an adapter offers
(its feature axis, data format and padding modes); the report compares their outputs run against
run, in ULPs.
"""

from __future__ import annotations

from .cases import BNCase, ConvCase, PoolCase, Values

DTYPE = "float32"


def _bn_axis(caps) -> int:
    return -1 if caps.bn_any_axis or -1 in caps.bn_axes else caps.bn_axes[0]


def _format(formats) -> str:
    return "channels_last" if "channels_last" in formats else formats[0]


def corpus(caps) -> list[tuple[str, str, object]]:
    """(label, mode, case) triples for the ops ``caps`` offers."""
    out: list[tuple[str, str, object]] = []
    if "batch_norm" in caps.ops:
        axis = _bn_axis(caps)
        shape = (4, 6, 6, 5) if axis == -1 else (4, 5, 6, 6)
        for i, mode in enumerate(("train", "inference")):
            case = BNCase(shape=shape, axis=axis, dtype=DTYPE, eps=1e-3, momentum=0.99,
                          x=Values(seed=100 + i, loc=0.5, scale=2.0), params_seed=7)
            out.append((f"batch_norm/{mode}", mode, case))
    if "conv2d" in caps.ops:
        fmt = _format(caps.conv_data_formats)
        shape = (2, 9, 9, 6) if fmt == "channels_last" else (2, 6, 9, 9)
        for padding in ("valid", "same"):
            if padding in caps.conv_paddings:
                case = ConvCase(x_shape=shape, data_format=fmt, c_out=8, kernel=(3, 3), padding=padding,
                                bias=caps.conv_bias, dtype=DTYPE, x=Values(seed=200), w_seed=201)
                out.append((f"conv2d/{padding}", "-", case))
    if "pool2d" in caps.ops:
        fmt = _format(caps.pool_data_formats)
        shape = (2, 8, 8, 3) if fmt == "channels_last" else (2, 3, 8, 8)
        for kind in ("max", "avg", "global_avg"):
            if kind in caps.pool_kinds:
                case = PoolCase(kind=kind, x_shape=shape, data_format=fmt, window=(2, 2), stride=(2, 2),
                                dtype=DTYPE, x=Values(seed=300))
                out.append((f"pool2d/{kind}", "-", case))
    return out
