"""Builders of small results documents for the reports tests, and pytester.

The builders make *inputs*; every test states its expected output by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    # The plugin tests run tiny fake conformance suites through pytester. The root conftest
    # may not load it; registering it late is supported (its options get their defaults).
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


def make_record(**fields) -> dict:
    """A passing float32 torch batch_norm/train record; ``fields`` override."""
    record = {
        "id": "bnconform/conformance/test_bn.py::test_bn_forward[torch-train-float32]",
        "property": "bn_forward", "target": "torch", "framework": "torch", "version": "2.13.0",
        "backend": None, "op": "batch_norm", "mode": "train", "dtype": "float32",
        "verdict": "pass", "reason": None, "examples": 10,
        "max_abs_error": 1e-7, "max_rel_error": 2e-7, "max_ulp_error": 1.0, "max_tol_ratio": 0.1,
        "example": None, "message": None, "replay": None, "duration_s": 0.5,
    }
    record.update(fields)
    if "id" not in fields:
        record["id"] = (f"bnconform/conformance/test_x.py::test_{record['property']}"
                        f"[{record['target']}-{record['mode']}-{record['dtype']}]")
    return record


def make_doc(name: str, records: list[dict], **top) -> dict:
    """A complete results document of run ``name``."""
    doc = {
        "schema": "bnconform-results/1",
        "run": {"name": name, "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:10:00+00:00",
                "complete": True, "profile": "ci", "command": "python -m pytest"},
        "environment": {"python": "3.11.7", "platform": "Linux", "cpu": "test cpu", "gpu": None,
                        "frameworks": {"torch": "2.13.0"}, "pip_freeze": ["torch==2.13.0"]},
        "fingerprints": {}, "records": records, "cifar": [], "drift": [],
    }
    for key, value in top.items():
        if key in ("complete", "stopped", "collection_errors"):
            doc["run"][key] = value
        else:
            doc[key] = value
    return doc


def write_doc(directory: Path, doc: dict) -> Path:
    """Write ``doc`` to ``directory/<run name>/results.json``; return the path."""
    path = directory / doc["run"]["name"] / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


DEVIATION_FLAX = '''
[[deviation]]
id = "flax-one-pass"
framework = "flax"
versions = ">=0.7,<=0.12.8"
property = "bn_forward_adversarial"
op = "batch_norm"
model = "one_pass_variance"
reason = "one-pass variance"
link = "https://example.org/flax/1"
'''


def explained_record(entry_id: str = "flax-one-pass", count: int = 3, **fields) -> dict:
    """A flax record whose failing examples the model of entry ``entry_id`` explained."""
    base = dict(target="flax-linen", framework="flax", version="0.12.8", property="bn_forward_adversarial",
                verdict="known-deviation", max_tol_ratio=40.0, explained={entry_id: count},
                deviations=[{"id": entry_id, "model": "one_pass_variance", "params": {}}])
    base.update(fields)
    return make_record(**base)


@pytest.fixture
def write(tmp_path):
    """``write(doc)`` -> path of its results.json under tmp_path."""
    return lambda doc: write_doc(tmp_path, doc)
