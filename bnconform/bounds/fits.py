"""The statistical tier's fits and its findings: shared error components held to their allowance.

A shared error -- a wrong eps, m - 1 for m, a divisor off by one, weights scaled -- moves many
outputs the same way. It hides under the worst-case tier's element-wise bound but stands out when
the outputs are looked at together:

- batch norm (``shared_components``): per feature, e_i = A + B x_hat_i + r_i by least squares, A and
  B held to the bounds of the shared quantities (``bn_forward.shared_bounds``,
  ``bn_backward.dx_shared_bounds``, with the probabilistic reduction bound) plus Z standard errors
  of the fit plus the elements' own errors leaning one way; the residual's rms to SAFETY times the
  rms of the own errors' bounds;
- convolution and pooling (``shared_scale``): e_i = B y_i through the origin over all outputs;
- one number per feature or an output on its own (``beyond``): |err| against a bound.

docs/tolerances.md derives the allowances.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .reduction import per_feature as _per_feature
from .roundoff import SAFETY, Roundoff

Z = 6.0  # standard errors allowed for the fitted shared components
MIN_ELEMENTS = 16


class Finding(NamedTuple):
    """One per-feature shared component beyond its bound."""

    component: str  # "offset" (A), "scale" (B, the coefficient of x_hat), "noise" (rms of the residual),
    #                 "total" (a per-feature reduction beyond its probabilistic bound), "element" (one
    #                 output beyond it) or "shared scale" (a relative error shared by all outputs)
    feature: int
    fitted: float
    allowed: float  # bound + Z se + floor

    def describe(self) -> str:
        what = {"offset": "per-feature offset", "scale": "per-feature scale of x_hat",
                "noise": "rms error beyond those",
                "total": "error beyond the probabilistic bound",
                "element": "error beyond the probabilistic bound",
                "shared scale": "relative error shared by all outputs"}[self.component]
        where = ("all outputs" if self.component == "shared scale" else
                 f"element {self.feature}" if self.component == "element" else f"feature {self.feature}")
        return (f"{where}: {what} {self.fitted:.3g}, allowed {self.allowed:.3g} "
                f"({abs(self.fitted) / self.allowed:.3g}x)")


class Findings(list):
    """The findings of one check, and its ``margin``: the largest |fitted| / allowed over every
    component it checked, passing or not (1 is the edge; None when nothing was checked). The margin
    is what the results record as ``max_stat_ratio``: how close an honest result came."""

    def __init__(self, findings=(), margin: float | None = None):
        super().__init__(findings)
        self.margin = margin


def margin_of(fitted, allowed) -> float | None:
    """max |fitted| / allowed over the finite entries (None when there are none)."""
    f, a = (np.abs(np.asarray(v, np.float64)).reshape(-1) for v in np.broadcast_arrays(fitted, allowed))
    keep = np.isfinite(f) & np.isfinite(a)
    if not keep.any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(a[keep] > 0, f[keep] / np.where(a[keep] > 0, a[keep], 1.0), np.where(f[keep] > 0, np.inf, 0.0))
    return float(ratio.max())


def joined(*parts: "Findings") -> "Findings":
    """Several checks' findings as one, with the largest margin."""
    margins = [p.margin for p in parts if getattr(p, "margin", None) is not None]
    return Findings([f for p in parts for f in p], max(margins) if margins else None)


def shared_components(err, x_hat, axis: int, bound_a, bound_b, floor_a, floor_b, local, floor) -> "Findings":
    """Fit e = A + B x_hat per feature and return the components beyond their allowance.

    ``bound_*`` and ``floor_*``: per-feature arrays (C,); ``local``: the bound on each element's own
    error (the residual's rms is held to SAFETY rms(local) + floor). See the module docstring.
    """
    e = _per_feature(err, axis)
    t = _per_feature(np.broadcast_to(x_hat, np.shape(err)), axis)
    loc = _per_feature(np.broadcast_to(local, np.shape(err)), axis)
    n_features, m = e.shape
    if m < MIN_ELEMENTS:
        return Findings()
    bound_a, bound_b, floor_a, floor_b = (np.broadcast_to(np.asarray(v, np.float64).reshape(-1), (n_features,))
                                          for v in (bound_a, bound_b, floor_a, floor_b))
    # vectorized over features (sums, not BLAS dot products: no thread start-up per feature)
    finite = np.isfinite(e).all(axis=1) & np.isfinite(t).all(axis=1)
    e, t = np.where(finite[:, None], e, 0.0), np.where(finite[:, None], t, 0.0)
    t_mean = t.mean(axis=1)
    dt = t - t_mean[:, None]
    stt = np.einsum("ij,ij->i", dt, dt)
    slope = stt > 1e-6 * m
    safe_stt = np.where(slope, stt, 1.0)
    b = np.where(slope, np.einsum("ij,ij->i", dt, e) / safe_stt, 0.0)
    e_mean = e.mean(axis=1)
    resid = e - e_mean[:, None] - b[:, None] * dt
    rss = np.einsum("ij,ij->i", resid, resid)
    s2 = rss / (m - np.where(slope, 2, 1))
    a = e_mean - b * t_mean
    se_a = np.sqrt(s2 * (1.0 / m + np.where(slope, t_mean**2 / safe_stt, 0.0)))
    # the elements' own errors, if they all lean the same way (|r_i| <= SAFETY local_i, any signs):
    # |b| <= sum(|dt| L) / stt and |A| <= mean(L) + |t_mean| sum(|dt| L) / stt
    worst_local = SAFETY * loc
    lean_b = np.where(slope, np.einsum("ij,ij->i", np.abs(dt), worst_local) / safe_stt, 0.0)
    lean_a = worst_local.mean(axis=1) + np.abs(t_mean) * lean_b
    allowed_a = bound_a + Z * se_a + np.maximum(floor_a, lean_a)
    allowed_b = bound_b + Z * np.sqrt(s2 / safe_stt) + np.maximum(floor_b, lean_b)
    rms = np.sqrt(rss / m)
    allowed_rms = SAFETY * np.sqrt(np.einsum("ij,ij->i", loc, loc) / m) + floor
    findings = []
    for c in np.flatnonzero(finite):
        if abs(a[c]) > allowed_a[c]:
            findings.append(Finding("offset", int(c), float(a[c]), float(allowed_a[c])))
        if slope[c] and abs(b[c]) > allowed_b[c]:
            findings.append(Finding("scale", int(c), float(b[c]), float(allowed_b[c])))
        if rms[c] > allowed_rms[c]:
            findings.append(Finding("noise", int(c), float(rms[c]), float(allowed_rms[c])))
    checked = [margin_of(a[finite], allowed_a[finite]), margin_of(b[finite & slope], allowed_b[finite & slope]),
               margin_of(rms[finite], allowed_rms[finite])]
    checked = [c for c in checked if c is not None]
    return Findings(findings, max(checked) if checked else None)


def beyond(actual, expected, bound, component: str = "total") -> "Findings":
    """Findings for the entries of ``actual`` farther than ``bound`` from ``expected`` (flat indices)."""
    err = np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64)).reshape(-1)
    bound = np.broadcast_to(np.asarray(bound, np.float64), np.shape(expected)).reshape(-1)
    return Findings([Finding(component, int(i), float(err[i]), float(bound[i]))
                     for i in np.flatnonzero(np.isfinite(err) & (err > bound))], margin_of(err, bound))


def shared_scale(err, expected, own, bound: float, r: Roundoff) -> "Findings":
    """A relative error shared by all outputs of a reduction op (pooling, convolution), fitted through
    the origin:

        e_i = B y_i + r_i,   B = sum e_i y_i / sum y_i^2,   se(B) = sqrt(sum r_i^2 / (n - 1) / sum y_i^2)

    and held to |B| <= bound + Z se(B) + max(u, SAFETY sum |y_i| own_i / sum y_i^2). A divisor
    off by one, a constant factor, an average over the wrong count: each is a B. What honest rounding
    gives B:

    - ``bound``: a rounding shared by every output -- pooling's reciprocal of the divisor, or a
      convolution's transformed weights, rounded once to the dtype (u): a value stored once keeps
      its deterministic u;
    - each output's reduction error (Higham and Mary's model: independent, mean-zero roundings) is
      independent across outputs whose windows differ, so it enters through the residual r and
      se(B), shrinking like 1 / sqrt(n);
    - the outputs' own roundings (``own``: the division, storing the result) may all lean the same
      way on structured data (one binade of the dtype's grid rounds alike), so they are allowed in
      full, as ``shared_components``' floor: SAFETY own_i on every output, all with one sign.

    Higham and Mary's model needs addends that vary in their low-order bits. Outputs computed from
    identical windows have identical reduction errors, which the fit cannot average: with fewer than
    MIN_ELEMENTS distinct expected values (a constant input gives one) the fit is not made. An input
    made of a few repeated values does the same more subtly: with x = loc + integer (the "ints"
    draw), every window's partial sums carry j loc and round alike (measured: a float32 global
    average over 1,024 such values, summed sequentially, is 6.3e-6 = 100 u low on every output), so
    ``pool2d`` and ``conv2d`` make the fit only when at least half the input's values are distinct (``reduction.varied``).
    Where it is not made, the element-wise probabilistic bound still holds.
    """
    err, y, own = (np.asarray(a, np.float64).reshape(-1) for a in (err, expected, own))
    syy = float(np.dot(y, y))
    if np.unique(y).size < MIN_ELEMENTS or syy == 0.0:
        return Findings()
    b = float(np.dot(err, y)) / syy
    resid = err - b * y
    se = np.sqrt(float(np.dot(resid, resid)) / (y.size - 1) / syy)
    lean = max(r.out, SAFETY * float(np.dot(np.abs(y), own)) / syy)
    allowed = bound + Z * se + lean
    return Findings([Finding("shared scale", 0, b, allowed)] if abs(b) > allowed else [], margin_of(b, allowed))

