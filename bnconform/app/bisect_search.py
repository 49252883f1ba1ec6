"""The search of ``bnconform bisect``: which release of a package changed a replay's verdict.

Pure: the releases are strings, and the caller injects ``probe(release) -> Probe`` (in the command,
an install of the release into a cached environment and a replay there, :mod:`bnconform.app.bisect_envs`),
so the search is tested on fake releases without installing anything (``tests/cli/test_bisect_search.py``).

The search assumes one change point: over the releases in version order, the verdict is ``A`` up to
some release and something else from the next one on. It probes the two ends; if their verdicts are
equal there is nothing to find (:data:`EQUAL`). Otherwise it keeps ``lo`` (verdict ``A``) and ``hi``
(not ``A``) and probes a release between them until they are neighbours, in ``ceil(log2(n))``
probes: the last release with the first verdict and the first without it (:data:`FOUND`). A
release that does not install or import is *unusable*: it is reported as such, never taken for a
verdict, and the search probes its nearest neighbour between ``lo`` and ``hi`` instead. When every
release between them is unusable, the change lies somewhere in that stretch, and the search says so
(:data:`UNDECIDABLE`, with the stretch); so it does when fewer than two releases are usable.
:func:`scan` probes every release instead (``--keep-going``) and lists every change, which also
tests the one-change-point assumption.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from packaging.version import InvalidVersion, Version

#: the outcomes of a search, each the command's exit code: a change point found (0); the usable ends
#: agree (1); fewer than two usable releases, or the change lies in a stretch of unusable ones (3)
FOUND, EQUAL, UNDECIDABLE = "found", "equal", "undecidable"
EXIT = {FOUND: 0, EQUAL: 1, UNDECIDABLE: 3}


@dataclass(frozen=True)
class Probe:
    """One release tried: its ``verdict`` (``pass``, ``fail``, ``error``: what the replay decided), or
    None when the release is unusable, with ``problem`` saying why ("does not install: ...");
    ``lines`` are the replay's lines (the heading and the comparisons), for the report."""

    release: str
    verdict: str | None = None
    problem: str | None = None
    lines: tuple[str, ...] = ()
    note: str | None = None  # a short reason printed with the verdict (an error's exception)

    def __post_init__(self):
        if (self.verdict is None) == (self.problem is None):
            raise ValueError(f"probe of {self.release}: a verdict or a problem, exactly one of them")

    @property
    def usable(self) -> bool:
        return self.verdict is not None

    def describe(self) -> str:
        if not self.usable:
            return f"{self.release}: {self.problem}"
        return f"{self.release}: {self.verdict}" + (f" ({self.note})" if self.note else "")


@dataclass
class Result:
    """A search's outcome (:data:`FOUND`, :data:`EQUAL` or :data:`UNDECIDABLE`); ``good`` is the last
    release with the first verdict and ``bad`` the first release after it with another (the ends for
    :data:`EQUAL`; the ends of the unusable stretch for :data:`UNDECIDABLE`, where known);
    ``unusable`` the unusable releases between them; ``probes`` every probe, in the order made;
    ``changes`` (from :func:`scan`) every pair of usable neighbours whose verdicts differ."""

    outcome: str
    message: str
    good: Probe | None = None
    bad: Probe | None = None
    unusable: list[Probe] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    changes: list[tuple[Probe, Probe]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT[self.outcome]


class _Prober:
    """``probe`` once per release (a cache: the search may come back to one), each probe reported."""

    def __init__(self, releases: Sequence[str], probe: Callable[[str], Probe], report: Callable[[Probe], None]):
        self.releases, self._probe, self._report = list(releases), probe, report
        self.done: dict[int, Probe] = {}
        self.order: list[Probe] = []

    def __call__(self, i: int) -> Probe:
        if i not in self.done:
            p = self._probe(self.releases[i])
            if p.release != self.releases[i]:
                raise ValueError(f"probe of {self.releases[i]} answered for {p.release}")
            self.done[i] = p
            self.order.append(p)
            self._report(p)
        return self.done[i]

    def unusable_between(self, lo: int, hi: int) -> list[Probe]:
        """The unusable releases probed strictly between ``lo`` and ``hi``, in release order."""
        return [self.done[i] for i in range(lo + 1, hi) if i in self.done and not self.done[i].usable]


def _nearest_first(mid: int, lo: int, hi: int) -> Iterable[int]:
    """The indices strictly between ``lo`` and ``hi``, ``mid`` first, then its neighbours outwards
    (``mid+1, mid-1, mid+2, ...``)."""
    for d in range(hi - lo):
        for i in ((mid,) if d == 0 else (mid + d, mid - d)):
            if lo < i < hi:
                yield i


def bisect(releases: Sequence[str], probe: Callable[[str], Probe],
           report: Callable[[Probe], None] = lambda p: None) -> Result:
    """The first release (in the given order, oldest first) whose verdict differs from the first
    usable release's, assuming one change point (the module's docstring); ``report`` sees each probe
    as it is made."""
    run = _Prober(releases, probe, report)
    n = len(run.releases)
    if n == 0:
        return Result(UNDECIDABLE, "no release in the range")
    lo = next((i for i in range(n) if run(i).usable), None)
    if lo is None:
        return Result(UNDECIDABLE, f"none of the {n} releases in the range is usable", probes=run.order,
                      unusable=run.unusable_between(-1, n))
    hi = next((j for j in range(n - 1, lo, -1) if run(j).usable), None)
    if hi is None:
        return Result(UNDECIDABLE, f"only one usable release in the range ({run(lo).release}): nothing to compare it with",
                      good=run(lo), probes=run.order, unusable=run.unusable_between(-1, n))
    first = run(lo).verdict
    if run(hi).verdict == first:
        return Result(EQUAL, f"the verdicts at the two ends are equal ({run(lo).release}: {first}, "
                             f"{run(hi).release}: {run(hi).verdict}): no change in the range",
                      good=run(lo), bad=run(hi), probes=run.order)
    while hi - lo > 1:
        k = next((i for i in _nearest_first((lo + hi) // 2, lo, hi) if run(i).usable), None)
        if k is None:  # every release between lo and hi is unusable
            break
        if run(k).verdict == first:
            lo = k
        else:
            hi = k
    good, bad, skipped = run(lo), run(hi), run.unusable_between(lo, hi)
    if skipped and hi - lo > 1:
        return Result(UNDECIDABLE, f"the verdict changes between {good.release} ({good.verdict}) and {bad.release} "
                                   f"({bad.verdict}), but the releases between them are unusable: "
                                   f"{', '.join(p.release for p in skipped)}",
                      good=good, bad=bad, unusable=skipped, probes=run.order)
    return Result(FOUND, f"first release whose verdict differs: {bad.release} ({bad.verdict}); "
                         f"the release before it: {good.release} ({good.verdict})",
                  good=good, bad=bad, probes=run.order)


def scan(releases: Sequence[str], probe: Callable[[str], Probe],
         report: Callable[[Probe], None] = lambda p: None) -> Result:
    """Probe every release (``--keep-going``): every change between usable neighbours, in order.
    :data:`FOUND` with the first change as ``good``/``bad`` when there is one (the message says how
    many: more than one breaks :func:`bisect`'s assumption), :data:`EQUAL` when every usable release
    has the same verdict, :data:`UNDECIDABLE` when fewer than two are usable."""
    run = _Prober(releases, probe, report)
    usable = [p for p in (run(i) for i in range(len(run.releases))) if p.usable]
    if len(usable) < 2:
        return Result(UNDECIDABLE, f"{len(usable)} usable release(s) in the range: nothing to compare",
                      probes=run.order, unusable=run.unusable_between(-1, len(run.releases)))
    changes = [(a, b) for a, b in zip(usable, usable[1:]) if a.verdict != b.verdict]
    if not changes:
        return Result(EQUAL, f"every usable release has the verdict {usable[0].verdict}: no change in the range",
                      good=usable[0], bad=usable[-1], probes=run.order)
    text = "; ".join(f"{a.release} ({a.verdict}) -> {b.release} ({b.verdict})" for a, b in changes)
    many = "" if len(changes) == 1 else f" (not one change point: {len(changes)} changes)"
    good, bad = changes[0]
    at = {p.release: i for i, p in enumerate(run.order)}  # scan probes in release order
    between = [p for p in run.order[at[good.release] + 1:at[bad.release]] if not p.usable]
    return Result(FOUND, f"the verdict changes at: {text}{many}", good=good, bad=bad, unusable=between,
                  probes=run.order, changes=changes)


# --------------------------------------------------------------------------------------------
# The releases
# --------------------------------------------------------------------------------------------

_AVAILABLE = re.compile(r"^\s*Available versions:\s*(.*)$", re.MULTILINE)


def parse_index_versions(text: str) -> list[str]:
    """The releases listed by ``pip index versions PACKAGE`` (its ``Available versions: a, b, ...``
    line, whatever else it printed around it); ``ValueError`` when there is no such line."""
    match = _AVAILABLE.search(text)
    if match is None:
        last = next((line for line in reversed(text.strip().splitlines()) if line.strip()), "(no output)")
        raise ValueError(f"the package index listed no releases: {last.strip()}")
    return [v.strip() for v in match.group(1).split(",") if v.strip()]


def version_of(text: str, what: str) -> Version:
    """``Version(text)``, or ``ValueError`` naming ``what`` (an option) and the text."""
    try:
        return Version(text)
    except InvalidVersion:
        raise ValueError(f"{what}: {text!r} is not a version") from None


def select_releases(available: Iterable[str], start: str, stop: str, pre: bool = False) -> list[str]:
    """The releases in ``[start, stop]`` (both included), oldest first, by ``packaging.version``;
    pre-releases and development releases left out unless ``pre``; names that are not versions are
    left out. ``ValueError`` for a bound that is not a version or ``start`` after ``stop``."""
    lo, hi = version_of(start, "--from"), version_of(stop, "--to")
    if lo > hi:
        raise ValueError(f"bad version range: --from {start} is after --to {stop}")
    chosen = {}
    for text in available:
        try:
            v = Version(text)
        except InvalidVersion:
            continue
        if lo <= v <= hi and (pre or not (v.is_prerelease or v.is_devrelease)):
            chosen.setdefault(v, text)
    return [chosen[v] for v in sorted(chosen)]
