"""Whether a known deviation explains a failing example or a crash: the one decision, for pytest and replay.

A failing example (some output outside the reference's tolerance) is *explained* by an entry when
the entry's model (:mod:`bnconform.models`), judging the same actual outputs, finds every output
within its own tolerance: the framework computes what the model says, not something else. The
entries tried are the candidates of the test (those whose identity and version range cover it, in
file order, chosen by the caller: ``bnconform.reports.deviations.candidates``); the first that
explains the example decides it, and an example no candidate explains is a NEW FAILURE.

A :class:`Crash` (the framework raised on the case instead of returning outputs) is explained the
same way, by a *crash model* only (``REPLACES = "crash"``, ``bnconform.models.judge_crash``): the
model predicts a crash for THIS case, and the exception's type and message are the ones predicted.
Any other crash stays an ``error``, with each candidate and why it did not explain it.

The conformance run (``bnconform/conformance/conftest.py``) and ``bnconform replay`` both call
:func:`decide`, so a replay says what the run decided, in the same words (:meth:`Attempt.describe`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol

from . import models
from .checks import Check, Example
from .compare import Comparison, worst


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Entry(Protocol):
    """What the decision needs of a known-deviation entry (``bnconform.reports.deviations.Deviation``)."""

    id: str
    model: str
    params: Mapping[str, Any]
    model_text: str  # the model with its parameters, as written in messages: ``name(key=value)``


@dataclass(frozen=True)
class Crash:
    """A run that raised instead of returning outputs: the property, its check, the case, the mode
    and the exception (what ``checks.run`` raised)."""

    prop: str
    check: Check
    case: Any
    mode: str
    error: BaseException

    @property
    def line(self) -> str:
        """``IndexError: tuple index out of range``: the exception's line, as the record keeps it."""
        message = _ANSI.sub("", " ".join(str(self.error).split()))  # Keras bolds the backend's message
        return f"{type(self.error).__name__}: {message}"


@dataclass(frozen=True)
class Attempt:
    """One entry's model judging the example: its worst output against the model, or why it cannot
    judge this example (it models another check, or cannot bound this case); for a crash, whether
    the entry's crash model predicts it (``crash``: the model's words)."""

    entry: Entry
    against: Comparison | None = None
    unjudged: str | None = None
    crash: str | None = None
    crash_explained: bool = False

    @property
    def explains(self) -> bool:
        if self.crash is not None:
            return self.crash_explained
        return self.against is not None and self.against.ok

    def describe(self) -> str:
        head = f"{self.entry.id} = {self.entry.model_text}"
        if self.crash is not None:
            verb = "explains this crash" if self.crash_explained else "does not explain this crash"
            return f"{head}: {verb}: {self.crash}"
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


def decide(example: Example | Crash, entries: Iterable[Entry]) -> Decision:
    """Try each entry's model on ``example`` (outputs, or a :class:`Crash`) in order, stopping at the
    first that explains it."""
    attempts = []
    for entry in entries:
        try:
            if isinstance(example, Crash):
                explained, words = models.judge_crash(entry.model, entry.params, example.check, example.case,
                                                      example.mode, example.error)
                attempts.append(Attempt(entry, crash=words, crash_explained=explained))
                if explained:
                    break
                continue
            against = models.judge(entry.model, entry.params, example)
        except ValueError as exc:  # NotModelled, or a bound the model cannot give for this case
            attempts.append(Attempt(entry, unjudged=str(exc)))
            continue
        attempts.append(Attempt(entry, against=worst(against)))
        if attempts[-1].explains:
            break
    return Decision(tuple(attempts))
