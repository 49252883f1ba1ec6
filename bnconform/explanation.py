"""Whether a known deviation explains a failing example: the one decision, for pytest and replay.

A failing example (some output outside the reference's tolerance) is *explained* by an entry when
the entry's model (:mod:`bnconform.models`), judging the same actual outputs, finds every output
within its own tolerance: the framework computes what the model says, not something else. The
entries tried are the candidates of the test (those whose identity and version range cover it, in
file order, chosen by the caller: ``bnconform.reports.deviations.candidates``); the first that
explains the example decides it, and an example no candidate explains is a NEW FAILURE.

The conformance run (``bnconform/conformance/conftest.py``) and ``bnconform replay`` both call
:func:`decide`, so a replay says what the run decided, in the same words (:meth:`Attempt.describe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol

from . import models
from .checks import Example
from .compare import Comparison, worst


class Entry(Protocol):
    """What the decision needs of a known-deviation entry (``bnconform.reports.deviations.Deviation``)."""

    id: str
    model: str
    params: Mapping[str, Any]
    model_text: str  # the model with its parameters, as written in messages: ``name(key=value)``


@dataclass(frozen=True)
class Attempt:
    """One entry's model judging the example: its worst output against the model, or why it cannot
    judge this example (it models another check, or cannot bound this case)."""

    entry: Entry
    against: Comparison | None = None
    unjudged: str | None = None

    @property
    def explains(self) -> bool:
        return self.against is not None and self.against.ok

    def describe(self) -> str:
        head = f"{self.entry.id} = {self.entry.model_text}"
        if self.against is None:
            return f"{head}: cannot judge this example: {self.unjudged}"
        bad = self.against
        if self.explains:
            return f"{head}: explains this example (worst {bad.name!r} err/tol {bad.max_ratio:.3g} against the model)"
        return (f"{head}: does not explain this example: {bad.name!r} err/tol {bad.max_ratio:.3g} against the model "
                f"({bad.n_mismatch} of {bad.n_total} elements outside)")


@dataclass(frozen=True)
class Decision:
    """The entries tried, in order; the last explains the example if any does."""

    attempts: tuple[Attempt, ...]

    @property
    def explained_by(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts and self.attempts[-1].explains else None


def decide(example: Example, entries: Iterable[Entry]) -> Decision:
    """Try each entry's model on ``example`` in order, stopping at the first that explains it."""
    attempts = []
    for entry in entries:
        try:
            against = models.judge(entry.model, entry.params, example)
        except ValueError as exc:  # NotModelled, or a bound the model cannot give for this case
            attempts.append(Attempt(entry, unjudged=str(exc)))
            continue
        attempts.append(Attempt(entry, against=worst(against)))
        if attempts[-1].explains:
            break
    return Decision(tuple(attempts))
