"""``bnconform run`` refuses, before any test runs, output directories it cannot write (exit 2, the
option and the path named); its default output is under the current directory, whatever that is."""

from __future__ import annotations

import pytest

from bnconform.app import cli


@pytest.mark.parametrize("option", ["--results", "--out"])
def test_an_output_directory_that_cannot_be_written_is_a_usage_error(tmp_path, monkeypatch, capsys, option):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a directory")
    code = cli.main(["run", "--target", "torch", option, "a-file/sub"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"bnconform run: {option} {tmp_path / 'a-file' / 'sub'}: cannot write there" in err
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("pytest.log"))  # nothing ran


def test_the_default_outputs_are_under_the_current_directory():
    args = cli.build_parser().parse_args(["run"])
    assert (args.results, args.out) == ("results", "report")
