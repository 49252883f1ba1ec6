"""Strict JSON for results files.

Results files must be strict JSON (``jq``, JavaScript's ``JSON.parse`` and CI tools reject
the ``NaN``/``Infinity`` tokens that Python's :mod:`json` emits by default). Non-finite
floats are therefore written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``, and
:func:`as_number` reads them back. NumPy scalars and arrays become plain Python values.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["to_jsonable", "dumps", "as_number", "NON_FINITE"]

NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def to_jsonable(obj: Any) -> Any:
    """Return ``obj`` as nested dicts/lists/str/int/float/bool/None, strict-JSON safe.

    Handles NumPy scalars and arrays (via ``tolist``), tuples, sets (sorted), mappings
    with non-string keys (keys become ``str``) and ``os.PathLike``; anything else is
    turned into its ``str`` so that a stray object never makes a results write fail.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return _float(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [to_jsonable(v) for v in sorted(obj, key=repr)]
    tolist = getattr(obj, "tolist", None)  # NumPy arrays and scalars, ml_dtypes scalars
    if callable(tolist):
        try:
            return to_jsonable(tolist())
        except Exception:  # noqa: BLE001 - fall through to str()
            pass
    if hasattr(obj, "__fspath__"):
        return str(obj.__fspath__())
    return str(obj)


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """Serialize ``obj`` as strict JSON (after :func:`to_jsonable`)."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False, ensure_ascii=False)


def as_number(value: Any) -> float | None:
    """Read a numeric field back: numbers pass, ``"nan"``/``"inf"``/``"-inf"`` decode, None stays None.

    Raises ``ValueError`` for anything else (a string that is not one of the three, a list, ...).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    raise ValueError(f"expected a number, got {value!r}")
