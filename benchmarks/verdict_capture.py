"""A pytest plugin that keeps every example the conformance suite judges, for ``benchmarks.verdict_digest``.

The results files record each property's largest error measures and its failing case, not the
framework's outputs, so a run cannot be judged again from them. Loaded into a conformance run,

    BNCONFORM_CAPTURE=/tmp/examples-torch.pkl.gz python -m pytest bnconform/conformance --target torch \
        -p benchmarks.verdict_capture -q

this plugin wraps ``bnconform.checks.judge`` and keeps each example judged with the default model
(``numerics=None``): the property, the case, its materialized inputs and the framework's actual
outputs (``checks.Example``). At the end of the session they are pickled (gzip) to
``$BNCONFORM_CAPTURE``, so the digest judges exactly what the run judged, before and after a change
of the tolerance model, without calling a framework again.
"""

from __future__ import annotations

import gzip
import os
import pickle

from bnconform import checks

_examples: list = []
_judge = checks.judge


def _capturing_judge(ex, *, numerics=None):
    if numerics is None:
        _examples.append(ex)
    return _judge(ex, numerics=numerics)


def pytest_configure(config):
    if os.environ.get("BNCONFORM_CAPTURE"):
        checks.judge = _capturing_judge


def pytest_unconfigure(config):
    path = os.environ.get("BNCONFORM_CAPTURE")
    if not path:
        return
    checks.judge = _judge
    with gzip.open(path, "wb", compresslevel=3) as f:
        pickle.dump(_examples, f, protocol=pickle.HIGHEST_PROTOCOL)
