"""``benchmarks/per_example.py`` runs end to end on a tiny budget and reports every property an adapter
offers with its bare call (no timing is asserted: wall-clock numbers belong to the benchmark)."""

from __future__ import annotations

import json

import pytest

from benchmarks import per_example


def run(tmp_path, *args) -> dict:
    out = tmp_path / "bench.json"
    assert per_example.main([*args, "--examples", "2", "--repeats", "1", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_torch_rows_cover_every_property_with_a_bare_call(tmp_path, capsys):
    pytest.importorskip("torch")
    data = run(tmp_path, "--target", "torch")
    rows = data["rows"]
    assert [(r["property"], r["mode"], r["kind"]) for r in rows] == [
        ("bn_forward", "train", None), ("bn_forward", "inference", None), ("bn_backward", "train", None),
        ("bn_moving_stats", "train", None), ("conv2d", "-", None),
        ("pool2d", "-", "max"), ("pool2d", "-", "avg"), ("pool2d", "-", "global_avg"), ("pool2d", "-", "lp")]
    for r in rows:
        assert r["n"] == 2 and r["bare_missing"] == 0 and r["bare"] > 0 and r["ratio"] > 0
        assert r["compiles"] is None  # not a JAX target
    printed = capsys.readouterr().out
    assert per_example.header().splitlines()[0] in printed and "torch" in printed
    assert data["run"]["examples"] == 2 and "load_start" in data["run"]


def test_jax_counts_compilations_and_none_when_warm(tmp_path):
    pytest.importorskip("jax")
    data = run(tmp_path, "--target", "jax", "--property", "conv2d", "--dtype", "bfloat16")
    (row,) = data["rows"]
    assert row["property"] == "conv2d" and row["bare_missing"] == 0
    assert row["compiles"] is not None  # counted for a JAX target (new configurations compile)...
    assert row["warm_compiles"] == 0  # ...and nothing compiles when the adapter or the bare call repeats


def test_an_unknown_property_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        per_example.main(["--property", "pool2d:max"])
    assert info.value.code == 2
    assert "--property: not timed: pool2d:max; timed: bn_forward, bn_backward" in capsys.readouterr().err
