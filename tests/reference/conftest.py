"""Shared set-up of the reference proofs.

- The helper modules beside this file (``naive``, ``tol64``, ``gen64``) are imported by plain name, under
  any pytest import mode.
- Until the project's root conftest registers the Hypothesis profiles ``ci``, ``dev`` and ``thorough``,
  temporary ones are registered here (only those not registered yet), so that
  ``--hypothesis-profile thorough`` works on this directory alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

_TEMPORARY_PROFILES = {
    "ci": dict(derandomize=True, max_examples=50, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow]),
    "dev": dict(max_examples=50, deadline=None),
    "thorough": dict(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]),
}

for _name, _kwargs in _TEMPORARY_PROFILES.items():
    try:
        settings.get_profile(_name)
    except InvalidArgument:
        settings.register_profile(_name, **_kwargs)
