"""The ``observe`` object that conformance tests report to.

One :class:`Observer` lives for the whole session (so Hypothesis does not object to a
function-scoped fixture inside ``@given``); the plugin points it at the test item that is
running, and per-item calls land in that item's :class:`ItemObservation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = ["ItemObservation", "Observer", "worst"]

_COMPARISON_FIELDS = {  # comparison attribute -> ItemObservation field
    "max_abs": "max_abs_error",
    "max_rel": "max_rel_error",
    "max_ulp": "max_ulp_error",
    "max_ratio": "max_tol_ratio",
    "stat_ratio": "max_stat_ratio",
}


def worst(current: float | None, new: Any) -> float | None:
    """The larger of two error measures; None means "not measured", NaN beats everything."""
    if new is None:
        return current
    try:
        new = float(new)
    except (TypeError, ValueError):
        return current
    if current is None or math.isnan(new):
        return new
    if math.isnan(current):
        return current
    return max(current, new)


@dataclass
class ItemObservation:
    """What one test item reported: example count, worst errors, the failing example."""

    examples: int = 0
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    max_ulp_error: float | None = None
    max_tol_ratio: float | None = None
    max_stat_ratio: float | None = None  # the statistical tier's largest fitted / allowed (bnconform.bounds)
    example: Any = None
    replay: str | None = None
    unsupported: dict = field(default_factory=dict)  # reason -> examples the framework refused
    candidates: list = field(default_factory=list)  # known-deviation entries that may explain examples
    explained: dict = field(default_factory=dict)  # entry id -> examples it explained
    explained_max_tol_ratio: dict = field(default_factory=dict)  # entry id -> worst err/tol against it
    explained_crashes: dict = field(default_factory=dict)  # entry id -> the line of the last crash it explained

    def add_example(self, comparison: Any) -> None:
        """Count one example and fold its comparison into the maxima."""
        self.examples += 1
        if comparison is None:
            return
        for source, target in _COMPARISON_FIELDS.items():
            if isinstance(comparison, Mapping):
                value = comparison.get(source)
            else:
                value = getattr(comparison, source, None)
            setattr(self, target, worst(getattr(self, target), value))


class Observer:
    """The ``observe`` fixture's value.

    ``sink`` receives run-level data: it has ``add_cifar``, ``add_blobs``, ``add_drift``, ``set_coverage`` and
    ``set_fingerprint`` (a :class:`bnconform.reports.writer.ResultsFile`); ``on_change`` is called
    after each of those so the plugin can persist them; ``describe(target)`` supplies the
    framework, version and backend a fingerprint does not state itself.
    """

    def __init__(self, sink: Any, on_change: Callable[[], None] = lambda: None,
                 describe: Callable[[str], Mapping[str, Any]] | None = None):
        self._sink = sink
        self._on_change = on_change
        self._describe = describe
        self._current: ItemObservation | None = None

    # -- managed by the plugin -------------------------------------------------------
    def _begin(self, candidates=()) -> ItemObservation:
        self._current = ItemObservation(candidates=list(candidates))
        return self._current

    def _end(self) -> None:
        self._current = None

    def _item(self, method: str) -> ItemObservation:
        if self._current is None:
            raise RuntimeError(f"observe.{method}() called outside a running test")
        return self._current

    # -- per test item ----------------------------------------------------------------
    def example(self, comparison: Any) -> None:
        """Record one Hypothesis example's comparison (attributes or keys ``n_mismatch``,
        ``max_abs``, ``max_rel``, ``max_ulp``, ``max_ratio``; missing ones count as not measured)."""
        self._item("example").add_example(comparison)

    def unsupported(self, reason: str) -> None:
        """Count a drawn example the framework does not offer (``Adapter.unsupported``), by reason,
        so that combinations never tested show in the results instead of vanishing."""
        counts = self._item("unsupported").unsupported
        counts[str(reason)] = counts.get(str(reason), 0) + 1

    def known_deviations(self) -> list:
        """The known-deviation entries (``bnconform.reports.deviations.Deviation``) that may explain a failing
        example of the running test: target, framework, version, property, op, mode and dtype match."""
        return list(self._item("known_deviations").candidates)

    def explained(self, entry_id: str, comparison: Any) -> None:
        """Count one failing example that entry ``entry_id``'s model explains; ``comparison`` is the
        worst comparison against the model (its ``max_ratio`` is kept per entry)."""
        item = self._item("explained")
        item.explained[str(entry_id)] = item.explained.get(str(entry_id), 0) + 1
        ratio = comparison.get("max_ratio") if isinstance(comparison, Mapping) else getattr(comparison, "max_ratio", None)
        item.explained_max_tol_ratio[str(entry_id)] = worst(item.explained_max_tol_ratio.get(str(entry_id)), ratio)

    def explained_crash(self, entry_id: str, line: str) -> None:
        """Count one crash (the framework raised) that entry ``entry_id``'s crash model predicts, with
        the exception's line (``IndexError: tuple index out of range``): counted in ``explained``
        like an explained failing example, and kept in ``explained_crashes``."""
        item = self._item("explained_crash")
        item.explained[str(entry_id)] = item.explained.get(str(entry_id), 0) + 1
        item.explained_crashes[str(entry_id)] = str(line)

    def failing_case(self, case_json: Any, replay: str) -> None:
        """Record the failing example and its replay command; the last call wins (Hypothesis
        replays the shrunk example last)."""
        item = self._item("failing_case")
        item.example = case_json
        item.replay = None if replay is None else str(replay)

    # -- per run ----------------------------------------------------------------------
    def cifar(self, record: Mapping[str, Any]) -> None:
        """Append one CIFAR-10 training record to the run's ``cifar`` list."""
        if not isinstance(record, Mapping):
            raise TypeError(f"record must be a mapping, got {type(record).__name__}")
        self._sink.add_cifar(dict(record))
        self._on_change()

    def blobs(self, record: Mapping[str, Any]) -> None:
        """Append one two-blob training record to the run's ``blobs`` list."""
        if not isinstance(record, Mapping):
            raise TypeError(f"record must be a mapping, got {type(record).__name__}")
        self._sink.add_blobs(dict(record))
        self._on_change()

    def drift(self, target: str, op: str, case_json: Any, output_array: Any, dtype: str,
              device: Mapping[str, Any] | None = None) -> None:
        """Append the output of one fixed drift-corpus case (compared across runs in ULPs), with the
        device it ran on (``{"platform", "name"}``; drift compares runs on the same platform only)."""
        import numpy as np

        output = np.asarray(output_array)
        values = output.astype(np.float64).tolist() if output.dtype != object else output.tolist()
        self._sink.add_drift({"target": str(target), "op": str(op), "case": case_json,
                              "output": values, "dtype": str(dtype),
                              **({"device": dict(device)} if device is not None else {})})
        self._on_change()

    def coverage(self, target: str, coverage: Mapping[str, Any]) -> None:
        """Set what ``target`` offered on this machine (replacing an earlier one): its declared
        capabilities and its run-time probes, ``{"available", "capabilities", "probes": {capability:
        {"offered", "reason"}}}`` (``bnconform.adapters.Adapter.coverage``), or ``{"available": False, "reason"}``
        for a target that could not be loaded. Record it once per target, when the adapter is loaded."""
        if not isinstance(coverage, Mapping):
            raise TypeError(f"coverage must be a mapping, got {type(coverage).__name__}")
        identity = dict(self._describe(str(target))) if self._describe else {}
        self._sink.set_coverage(str(target), {**identity, **coverage})
        self._on_change()

    def fingerprint(self, target: str, fingerprint: Mapping[str, Any]) -> None:
        """Set the convention fingerprint of ``target`` (replacing an earlier one)."""
        if not isinstance(fingerprint, Mapping):
            raise TypeError(f"fingerprint must be a mapping, got {type(fingerprint).__name__}")
        identity = dict(self._describe(str(target))) if self._describe else {}
        self._sink.set_fingerprint(str(target), {**identity, **fingerprint})
        self._on_change()
