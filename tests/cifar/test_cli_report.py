"""The command line (gate, report, targets, locate) and the text report, on synthetic records."""

from __future__ import annotations

import json

from bnconform.cifar.baselines import Store
from bnconform.app.cifar_cli import main
from bnconform.cifar.report import bn_pairs, render_text

from .records import record


def _files(tmp_path, accuracy):
    baselines = tmp_path / "baselines.json"
    store = Store.load(baselines)
    store.record([record(seed=s, test_accuracy=a) for s, a in enumerate((0.60, 0.62, 0.61))])
    store.save()
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"cifar": [record(test_accuracy=accuracy)]}))
    return str(results), str(baselines)


def test_gate_exit_codes(tmp_path, capsys):
    results, baselines = _files(tmp_path, 0.61)
    assert main(["gate", results, "--baselines", baselines]) == 0
    assert "PASS" in capsys.readouterr().out
    results, baselines = _files(tmp_path, 0.50)
    assert main(["gate", results, "--baselines", baselines]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "threshold 0.5763" in out and "margin -0.0763" in out


def test_no_baseline_passes_unless_required(tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"cifar": [record(target="flax-linen")]}))
    empty = str(tmp_path / "none.json")
    assert main(["gate", str(results), "--baselines", empty]) == 0
    assert "no-baseline" in capsys.readouterr().out
    assert main(["gate", str(results), "--baselines", empty, "--require-baseline"]) == 1


def test_report_sections(tmp_path, capsys):
    runs = [record(seed=0, test_accuracy=0.62), record(seed=0, bn=False, test_accuracy=0.58),
            record(seed=0, broken_bn=True, test_accuracy=0.50)]
    assert bn_pairs(runs) == [("torch", "A", "quick", 0, 0.62, 0.58)]
    text = render_text(runs)
    assert "| torch | A | quick | 0 | 62.00 | 58.00 | +4.00 |" in text
    assert "## Training images per second" in text and "| 903 |" in text
    assert "broken BN" in text
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"cifar": runs}))
    assert main(["report", str(path)]) == 0
    assert "## Training curves" in capsys.readouterr().out


def test_targets_and_locate(tmp_path, monkeypatch, capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    for target in ("keras-tensorflow", "keras-jax", "keras-torch", "torch", "flax-linen"):
        assert target in out
    monkeypatch.setenv("CIFAR10_PATH", str(tmp_path / "missing"))
    assert main(["locate"]) == 2
    assert "CIFAR10_PATH" in capsys.readouterr().err
