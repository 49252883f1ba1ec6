"""The known-deviations file against these results: per entry its model and parameters, how many
examples it explained, and whether it is active, not reached, stale (no tested version in range),
gone (past the release it names as the first without the mechanism) or unused."""

from __future__ import annotations

from typing import Sequence

from markupsafe import Markup

from ..deviations import EntryStatus
from .jinja import render

__all__ = ["deviations_section"]

_EXPLAIN = {
    "active": "its model explained failing examples: the deviation is still there",
    "stale": "no tested version of the framework is in its range: examine the new version, then update "
             "or remove the entry",
    "unused": "a tested version is in range but no test matches: renamed property or typo?",
    "not-tested": "its framework is not in these results (not on its device, for an entry that names one)",
    "inconclusive": "the tests it covers were skipped or raised errors",
    "not-reached": "its tests ran and no example needed it (its inputs are rare, or it is fixed)",
    "gone": "every tested version is at or past the release its entry names as the first without the "
            "mechanism (gone_in): the range ends there on purpose",
}
_CLASS = {"stale": "warn", "unused": "warn"}


def deviations_section(statuses: Sequence[EntryStatus] | None, source: str | None) -> Markup:
    return render("deviations.html.j2", statuses=statuses, source=source, explain=_EXPLAIN, warn=_CLASS)
