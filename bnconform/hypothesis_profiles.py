"""Hypothesis profiles, chosen with Hypothesis's own ``--hypothesis-profile``.

- ``ci``: derandomized (the same examples on every run, so CI verdicts are reproducible), a fixed
  budget of examples per property, no example database.
- ``dev``: the default on a workstation: random, a moderate budget, the local example database
  replays recent failures first.
- ``thorough``: a long search before a release or after a framework upgrade.
- ``verdict``: ``ci`` without shrinking, for a run whose reader needs only which tests fail (the
  planted-bug matrix, ``tests/cli/test_bn_impl_variants.py``): a failure then shows the first failing
  example found, not the smallest.

Without the option, ``BNCONFORM_PROFILE`` picks one, else ``ci`` when ``CI`` is set, else ``dev``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = dict(
    deadline=None,  # frameworks compile on first use; wall-clock limits would only add noise
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.differing_executors,
        HealthCheck.function_scoped_fixture,  # adapter and observe deliberately span all examples
    ],
)

PROFILES = {
    "ci": dict(max_examples=20, derandomize=True, database=None, **_COMMON),
    "dev": dict(max_examples=50, **_COMMON),
    "thorough": dict(max_examples=1000, **_COMMON),
    "verdict": dict(max_examples=20, derandomize=True, database=None,
                    phases=(Phase.explicit, Phase.reuse, Phase.generate), **_COMMON),
}


def register() -> None:
    for name, kwargs in PROFILES.items():
        settings.register_profile(name, **kwargs)


def default_profile() -> str:
    name = os.environ.get("BNCONFORM_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
    if name not in PROFILES:
        raise ValueError(f"BNCONFORM_PROFILE: expected one of {sorted(PROFILES)}, got {name!r}")
    return name


def load_default() -> None:
    register()
    settings.load_profile(default_profile())
