"""Element-wise comparison of a framework's output with the reference, and its report.

An element conforms when

- the reference is NaN and the framework's value is NaN;
- the reference is +inf or -inf and the framework's value is the same infinity;
- both are finite and ``|actual - expected| <= tol`` (``bnconform.tolerance``).

The message follows ``torch.testing.assert_close``: the number of mismatched elements, the largest
absolute and relative differences with their index, plus the largest difference in units of the
tolerance and in ULPs of the dtype.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import dtypes


@dataclass(frozen=True)
class Comparison:
    name: str
    dtype: str
    shape: tuple
    n_total: int
    n_mismatch: int
    max_abs: float
    max_abs_index: tuple | None
    max_rel: float
    max_rel_index: tuple | None
    max_ulp: float
    max_ratio: float  # largest |actual - expected| / tol: 1.0 is the edge of the tolerance
    max_ratio_index: tuple | None
    tol_at_max_abs: float
    first_mismatch: str | None  # a description of one mismatch of NaN/inf class, or of value
    systematic: tuple[str, ...] = ()  # shared per-feature errors beyond the statistical tier (bnconform.bounds, the statistical tier)
    stat_ratio: float | None = None  # the statistical tier's largest |fitted| / allowed (None: not checked)
    actual_shape: tuple | None = None  # set when the output's shape is not the expected ``shape``: nothing compared

    @property
    def wrong_shape(self) -> bool:
        return self.actual_shape is not None and tuple(self.actual_shape) != tuple(self.shape)

    @property
    def ok(self) -> bool:
        return self.n_mismatch == 0 and not self.systematic and not self.wrong_shape

    def message(self) -> str:
        if self.wrong_shape:
            return f"{self.name!r}: shape {tuple(self.actual_shape)} does not match the expected {tuple(self.shape)}"
        if self.ok:
            stat = "" if self.stat_ratio is None else f"; statistical tier {self.stat_ratio:.3g} of its allowance"
            return (f"{self.name!r}: all {self.n_total} elements within tolerance "
                    f"(max |err|/tol = {self.max_ratio:.3g}{stat})")
        if self.n_mismatch == 0:
            return "\n".join([
                f"Systematic error in {self.name!r} ({self.dtype}, shape {self.shape}): every element is within "
                f"its worst-case tolerance (max |err|/tol = {self.max_ratio:.3g}), but the errors go beyond "
                f"what honest rounding gives (bnconform.bounds, the statistical tier):",
                *(f"  {line}" for line in self.systematic),
            ])
        pct = 100.0 * self.n_mismatch / max(self.n_total, 1)
        lines = [
            f"Mismatched elements in {self.name!r} ({self.dtype}, shape {self.shape}): "
            f"{self.n_mismatch} / {self.n_total} ({pct:.1f}%)",
            f"Greatest absolute difference: {self.max_abs:.6g} at index {self.max_abs_index} "
            f"(up to {self.tol_at_max_abs:.3g} allowed)",
            f"Greatest relative difference: {self.max_rel:.6g} at index {self.max_rel_index}",
            f"Greatest difference in units of the tolerance: {self.max_ratio:.6g} at index {self.max_ratio_index}",
            f"Greatest difference in ULPs of {self.dtype}: {self.max_ulp:.6g}",
        ]
        if self.first_mismatch:
            lines.append(self.first_mismatch)
        if self.systematic:
            lines.append("Beyond what honest rounding gives (bnconform.bounds, the statistical tier):")
            lines.extend(f"  {line}" for line in self.systematic)
        return "\n".join(lines)


MAX_FINDINGS_LISTED = 5


def with_systematic(comparison: Comparison, findings) -> Comparison:
    """The comparison with the statistical tier's findings (``bnconform.bounds.fits.Finding``) and its margin
    (``fits.Findings.margin``, the largest |fitted| / allowed, passing or not) attached."""
    margin = getattr(findings, "margin", None)
    if margin is not None:
        comparison = dataclasses.replace(comparison, stat_ratio=max(margin, comparison.stat_ratio or 0.0))
    if not findings:
        return comparison
    lines = [f.describe() for f in findings[:MAX_FINDINGS_LISTED]]
    if len(findings) > MAX_FINDINGS_LISTED:
        lines.append(f"... and {len(findings) - MAX_FINDINGS_LISTED} more")
    return dataclasses.replace(comparison, systematic=tuple(lines))


def comparable(*comparisons: Comparison) -> bool:
    """Whether every output had the expected shape (the statistical tier needs it)."""
    return not any(c.wrong_shape for c in comparisons)


def _index(flat_index: int, shape: tuple) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat_index, shape)) if shape else ()


def compare(actual, expected, tol, *, dtype: str, name: str = "output") -> Comparison:
    """Compare ``actual`` (any float array) with ``expected`` (float64) under ``tol``. An output of
    another shape is a mismatch of every element (``actual_shape`` set, error infinite), so that a
    known deviation's model of another shape can still explain it."""
    expected = np.asarray(expected, np.float64)
    actual = np.asarray(actual, np.float64)
    if actual.shape != expected.shape:
        return Comparison(name=name, dtype=dtype, shape=expected.shape, n_total=int(expected.size),
                          n_mismatch=max(int(expected.size), 1), max_abs=np.inf, max_abs_index=None, max_rel=np.inf,
                          max_rel_index=None, max_ulp=np.inf, max_ratio=np.inf, max_ratio_index=None,
                          tol_at_max_abs=0.0, first_mismatch=None, actual_shape=tuple(actual.shape))
    tol = np.broadcast_to(np.asarray(tol, np.float64), expected.shape)
    nan_e, nan_a = np.isnan(expected), np.isnan(actual)
    inf_e, inf_a = np.isinf(expected), np.isinf(actual)
    finite = ~(nan_e | inf_e) & ~(nan_a | inf_a)
    class_bad = (nan_e != nan_a) | ((inf_e | inf_a) & ~(nan_e | nan_a) & (actual != expected))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        err = np.where(finite, np.abs(actual - expected), 0.0)
        rel = np.where(finite & (expected != 0), err / np.abs(expected), np.where(err > 0, np.inf, 0.0))
        ratio = np.where(finite, np.where(tol > 0, err / tol, np.where(err > 0, np.inf, 0.0)), 0.0)
        # in units of the dtype's spacing at the larger magnitude of the two (finite near 0)
        ulps = np.where(finite, err / dtypes.ulp(np.maximum(np.abs(expected), np.abs(actual)), dtype), 0.0)
    value_bad = finite & ~(err <= tol)  # a NaN tolerance excuses nothing
    bad = class_bad | value_bad
    ratio = np.where(class_bad, np.inf, ratio)
    first = None
    if class_bad.any():
        i = int(np.flatnonzero(class_bad)[0])
        first = (
            f"Non-finite mismatch at index {_index(i, expected.shape)}: "
            f"got {actual.flat[i]!r}, expected {expected.flat[i]!r}"
        )
    shape = expected.shape
    i_abs = int(np.argmax(err)) if err.size else 0
    i_rel = int(np.argmax(rel)) if rel.size else 0
    i_ratio = int(np.argmax(ratio)) if ratio.size else 0
    return Comparison(
        name=name,
        dtype=dtype,
        shape=shape,
        n_total=int(expected.size),
        n_mismatch=int(bad.sum()),
        max_abs=float(err.flat[i_abs]) if err.size else 0.0,
        max_abs_index=_index(i_abs, shape) if err.size else None,
        max_rel=float(rel.flat[i_rel]) if rel.size else 0.0,
        max_rel_index=_index(i_rel, shape) if rel.size else None,
        max_ulp=float(ulps.max()) if ulps.size else 0.0,
        max_ratio=float(ratio.flat[i_ratio]) if ratio.size else 0.0,
        max_ratio_index=_index(i_ratio, shape) if ratio.size else None,
        tol_at_max_abs=float(tol.flat[i_abs]) if tol.size else 0.0,
        first_mismatch=first,
    )


def worst(comparisons) -> Comparison:
    """The comparison with the largest error in units of tolerance (for the results record)."""
    return max(comparisons, key=lambda c: (not c.ok, c.max_ratio))


def assert_all_within(comparisons, context: str = "") -> None:
    """Raise one ``AssertionError`` listing every output that does not conform."""
    failed = [c for c in comparisons if not c.ok]
    if failed:
        head = f"{context}\n" if context else ""
        raise AssertionError(head + "\n\n".join(c.message() for c in failed))
