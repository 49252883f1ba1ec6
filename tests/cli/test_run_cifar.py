"""``bnconform run --cifar PROFILE``: the main job also trains the CIFAR-10 models, into
``results/cifar/results.json`` (read by the report and the gate like any run)."""

import json

from bnconform.app import cli


def test_targets_without_a_cifar_trainer_are_a_usage_error_before_anything_runs(tmp_path, capsys):
    code = cli.main(["run", "--target", "jax", "--cifar", "quick", "--results", str(tmp_path / "r")])
    assert code == 2
    assert "--cifar: none of the targets jax has a CIFAR-10 trainer" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_missing_data_is_exit_2_naming_the_path_and_leaves_no_earlier_results(tmp_path, monkeypatch, capfd):
    stale = tmp_path / "cifar" / "results.json"
    stale.parent.mkdir()
    stale.write_text(json.dumps({"schema": "bnconform-cifar/1", "cifar": [{"verdict": "pass"}]}))
    monkeypatch.setenv("CIFAR10_PATH", str(tmp_path / "no-such-cifar"))
    code = cli._run_cifar("quick", ["torch"], tmp_path)
    assert code == 2
    doc = json.loads(stale.read_text())
    assert doc["cifar"] == []
    err = capfd.readouterr().err  # the worker's message, on the terminal's stderr
    assert f"CIFAR10_PATH {tmp_path / 'no-such-cifar'} is not a CIFAR-10 archive" in err
