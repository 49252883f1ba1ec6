"""Drift: how far an op's output moved between two runs, in ULPs of its dtype.

Every run may store the outputs of a fixed corpus of cases per target and op (the
``drift`` list of a results file). For two runs of the same target, the same op and the
same case, the distance between the two outputs is counted in units in the last place
of the output's dtype: the number of representable values between them.

ULP distance of two floats of one dtype: take the bit patterns as sign and magnitude;
with equal signs the distance is the difference of the magnitudes, with opposite signs
their sum (so ``-0.0`` and ``+0.0`` are 0 apart, and the two smallest subnormals of
opposite sign 2 apart). Infinities are one ULP beyond the largest finite value. Two NaNs
are equal (distance 0); a NaN against a number is a *NaN mismatch* and counts as an
infinite distance.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["float_dtype", "decode_output", "ulp_distance", "DriftStat", "compare_outputs",
           "DriftRow", "drift_rows", "case_key"]


def float_dtype(name: str) -> np.dtype:
    """The NumPy dtype for ``name``: ``float16``, ``float32``, ``float64`` or ``bfloat16`` (ml_dtypes)."""
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    if name in ("float16", "float32", "float64"):
        return np.dtype(name)
    raise ValueError(f"dtype {name!r} is not a floating dtype the drift view knows "
                     "(float16, bfloat16, float32, float64)")


_TOKENS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def decode_output(values: Any, dtype: str) -> np.ndarray:
    """A stored output (nested lists; non-finite values as ``"nan"``/``"inf"``/``"-inf"``) in ``dtype``.

    The values were written from the output converted to float64, which represents every
    value of the narrower dtypes exactly, so the conversion back is exact.
    """
    def decode(v):
        if isinstance(v, list):
            return [decode(x) for x in v]
        if isinstance(v, str):
            if v not in _TOKENS:
                raise ValueError(f"output value {v!r} is not a number")
            return _TOKENS[v]
        return v

    return np.asarray(decode(values), dtype=np.float64).astype(float_dtype(dtype))


def _sign_magnitude(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bits = array.dtype.itemsize * 8
    unsigned = array.view(np.dtype(f"uint{bits}")).astype(np.uint64)
    sign = unsigned >> np.uint64(bits - 1)
    magnitude = unsigned & np.uint64((1 << (bits - 1)) - 1)
    return sign, magnitude


def ulp_distance(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise ``(distance, nan_mismatch)`` of two arrays of the same float dtype and shape.

    ``distance`` is uint64 (0 where both are NaN or where exactly one is NaN - see the
    mask); ``nan_mismatch`` marks elements where exactly one side is NaN.
    """
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    if a.dtype != b.dtype:
        raise ValueError(f"dtypes differ: {a.dtype} vs {b.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    nan_a = np.isnan(a.astype(np.float64))
    nan_b = np.isnan(b.astype(np.float64))
    sign_a, mag_a = _sign_magnitude(a)
    sign_b, mag_b = _sign_magnitude(b)
    same = sign_a == sign_b
    distance = np.where(same, np.maximum(mag_a, mag_b) - np.minimum(mag_a, mag_b), mag_a + mag_b)
    distance = np.where(nan_a | nan_b, np.uint64(0), distance).astype(np.uint64)
    return distance, nan_a ^ nan_b


@dataclass(frozen=True)
class DriftStat:
    """Summary of one output pair: largest ULP distance (``inf`` on a NaN mismatch or a
    shape change), how many elements moved, how many NaN mismatches, how many elements."""

    max_ulp: float
    changed: int
    nan_mismatch: int
    size: int
    note: str | None = None


def compare_outputs(a: np.ndarray, b: np.ndarray) -> DriftStat:
    """The :class:`DriftStat` of two outputs of one case."""
    if a.shape != b.shape:
        return DriftStat(math.inf, a.size, 0, max(a.size, b.size), f"shape changed {a.shape} -> {b.shape}")
    if a.size == 0:
        return DriftStat(0.0, 0, 0, 0)
    distance, nan_mismatch = ulp_distance(a, b)
    n_nan = int(nan_mismatch.sum())
    changed = int(((distance > 0) | nan_mismatch).sum())
    largest = math.inf if n_nan else float(int(distance.max()))
    return DriftStat(largest, changed, n_nan, int(a.size))


def case_key(case: Any) -> str:
    """A canonical text for a case (its JSON with sorted keys), to find the same case in two runs."""
    return json.dumps(case, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class DriftRow:
    """Drift of one target's op between two runs, over the cases both ran."""

    target: str
    op: str
    dtype: str
    before: str  # run name
    after: str
    before_version: str | None
    after_version: str | None
    cases: int
    cases_changed: int
    max_ulp: float
    nan_mismatch: int
    notes: tuple[str, ...] = ()
    #: the platform both runs ran on (``cpu``, ``cuda``, ``gpu``): runs on different devices are
    #: never compared, since a GPU's kernels may round differently from the CPU's by design
    platform: str = "cpu"


def drift_rows(runs: Sequence[Mapping[str, Any]]) -> list[DriftRow]:
    """Drift between consecutive runs of each (target, op, dtype, device platform); entries
    without a device (files written before devices) ran on the cpu.

    ``runs`` are ``{"name", "versions": {target: version}, "drift": [entries]}`` in the
    order to compare (the caller sorts them, e.g. by framework version); each run is
    compared with the previous run that has entries for the same target, op and dtype.
    """
    grouped: dict[tuple[str, str, str, str], list[tuple[Mapping[str, Any], dict[str, Any]]]] = {}
    for run in runs:
        per_key: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for entry in run["drift"]:
            platform = (entry.get("device") or {}).get("platform") or "cpu"
            key = (entry["target"], entry["op"], entry["dtype"], platform)
            per_key.setdefault(key, {})[case_key(entry["case"])] = entry["output"]
        for key, cases in per_key.items():
            grouped.setdefault(key, []).append((run, cases))
    rows = []
    for (target, op, dtype, platform), series in sorted(grouped.items()):
        for (run_a, cases_a), (run_b, cases_b) in zip(series, series[1:]):
            common = sorted(set(cases_a) & set(cases_b))
            stats = [compare_outputs(decode_output(cases_a[c], dtype), decode_output(cases_b[c], dtype))
                     for c in common]
            rows.append(DriftRow(
                target=target, op=op, dtype=dtype, before=run_a["name"], after=run_b["name"],
                before_version=run_a["versions"].get(target), after_version=run_b["versions"].get(target),
                cases=len(common),
                cases_changed=sum(s.changed > 0 or s.note is not None for s in stats),
                max_ulp=max((s.max_ulp for s in stats), default=0.0),
                nan_mismatch=sum(s.nan_mismatch for s in stats),
                notes=tuple(sorted({s.note for s in stats if s.note})),
                platform=platform,
            ))
    return rows
