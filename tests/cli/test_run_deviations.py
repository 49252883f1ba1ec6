"""``bnconform run`` checks the known-deviations file before any framework runs: a bad entry is exit 2
naming the file, the entry's line and the problem (as ``bnconform report`` and ``gate`` do)."""

from bnconform import cli


def test_a_bad_deviations_file_stops_the_run_before_anything_runs(tmp_path, monkeypatch, capsys):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "known_deviations.toml").write_text(
        '# header\n\n[[deviation]]\nid = "x"\nframework = "torch"\nversions = ">=2.13"\nproperty = "pool2d"\n'
        'model = "float32_compute"\nreason = "r"\nlink = "https://example.org"\n')
    monkeypatch.setattr(cli, "ROOT", root)
    code = cli.main(["run", "--target", "torch", "--results", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"bnconform run: known deviations: {root / 'known_deviations.toml'}:3: deviation #1 (id x): " \
           "versions '>=2.13' has no upper bound" in err
    assert not (tmp_path / "r").exists()


def test_the_repository_file_passes_the_check():
    assert cli._check_deviations() is None
