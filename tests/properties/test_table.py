"""The property table (``bnconform.properties``) is what runs: every row is collected by
``bnconform/conformance`` with its op, kinds, modes and dtypes, every collected conformance test names a
row, and every name written elsewhere (known deviations, models) is a row's."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnconform import models, properties
from bnconform.reports.deviations import load_deviations

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> list[dict]:
    """What ``pytest bnconform/conformance --collect-only`` collects for one target (parametrized
    whether or not its framework is installed), as the markers record it."""
    out = tmp_path_factory.mktemp("collected") / "items.jsonl"
    env = dict(os.environ, BNCONFORM_COLLECTED=str(out), PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    env.pop("BNCONFORM_TARGETS", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "bnconform/conformance", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-p", "tests.properties.collected", "--target", "torch"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in out.read_text().splitlines()]


def _by_property(collected) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for item in collected:
        out.setdefault(item["property"], []).append(item)
    return out


def test_every_conformance_test_records_a_row_of_the_table(collected):
    assert collected, "nothing collected"
    unmarked = [i["id"] for i in collected if not i["marked"]]
    assert not unmarked, f"conformance tests without a bnconform marker: {unmarked}"
    for item in collected:
        row = properties.get(item["property"])
        assert item["op"] == row.op, item
        assert (item["kind"] is None) == (not row.kinds), item
        assert item["kind"] is None or item["kind"] in row.kinds, item


def test_every_row_is_collected_with_its_kinds_modes_and_dtypes(collected):
    by_property = _by_property(collected)
    assert set(by_property) == set(properties.names())
    for row in properties.TABLE:
        items = by_property[row.name]
        assert {i["kind"] for i in items} == (set(row.kinds) or {None}), row.name
        assert set(row.modes) <= {i["mode"] for i in items}, row.name
        assert set(row.dtypes) <= {i["dtype"] for i in items}, row.name


def test_rows_are_consistent():
    assert len(properties.TABLE) == len(properties.PROPERTIES)
    for row in properties.TABLE:
        assert row.modes, row.name
        if row.op in properties.OPS:
            assert set(row.kinds) <= set(properties.POOL_KINDS) and bool(row.kinds) == (row.op == "pool2d"), row.name
        else:  # a probe's own label (the drift corpus)
            assert row.strategy is None and row.check is None, row.name
        if row.benchmark or row.production:
            assert row.strategy is not None and row.check is not None, row.name
        assert set(row.benchmark) <= set(row.modes), row.name


def test_every_known_deviation_and_variant_names_rows():
    for entry in load_deviations(REPO / "bnconform" / "known_deviations.toml"):
        rows = [r for r in properties.TABLE if fnmatch.fnmatchcase(r.name, entry.property)
                and fnmatch.fnmatchcase(r.op, entry.op)]
        assert rows, entry.label
        if entry.kind != "*":
            assert any(fnmatch.fnmatchcase(k, entry.kind) for r in rows for k in r.kinds), entry.label
    for name, model in models.REGISTRY.items():
        # every check a model judges is the check of some row (a model of nothing would explain nothing)
        for check in model.CHECKS:
            assert any(row.check is check for row in properties.TABLE), (name, check.name)


def test_an_unknown_property_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"property: expected one of bn_forward, .*pool2d.*, got 'pool2d:max'"):
        properties.get("pool2d:max")


def test_a_kind_outside_the_row_is_refused():
    with pytest.raises(ValueError, match=r"property 'pool2d_nonfinite': kind 'lp' is not one of \('max', 'avg'\)"):
        properties.get("pool2d_nonfinite").cases(object(), "float32", "lp")
    with pytest.raises(ValueError, match="property 'drift_corpus' is a probe"):
        properties.get("drift_corpus").cases(object(), "float32")
