"""Shared set-up of the reference proofs.

- The helper modules beside this file (``naive``, ``tol64``, ``gen64``) are imported by plain name, under
  any pytest import mode.
- The Hypothesis profiles ``ci``, ``dev`` and ``thorough`` are the project's (``bnconform.hypothesis_profiles``,
  which imports nothing but Hypothesis): registered here too, so that ``--hypothesis-profile thorough``
  works on this directory alone, without the root conftest (which also loads the default profile).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from bnconform import hypothesis_profiles as profiles  # noqa: E402  (after the path set-up above; the same values as the root's)

profiles.register()
