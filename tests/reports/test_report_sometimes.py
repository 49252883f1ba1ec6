"""The report over a matrix in which an ``occurs = "sometimes"`` entry was not reached: the ci
profile's derandomized examples pass where random profiles deviate, so the entry's status is
``not-reached``. The page used to raise KeyError on that status (seen on the first full tox run)."""

from __future__ import annotations

from reports.cli import main_gate, main_report

from .conftest import make_doc, make_record, write_doc

SOMETIMES = '''
[[deviation]]
target = "flax-*"
framework = "flax"
versions = ">=0.10"
property = "bn_forward"
op = "batch_norm"
mode = "train"
occurs = "sometimes"
reason = "one-pass variance on ill-conditioned draws"
link = "https://example.org/flax/2"
'''


def test_a_not_reached_sometimes_entry_renders_with_its_explanation(tmp_path, capsys):
    results = tmp_path / "results"
    record = make_record(target="flax-linen", framework="flax", version="0.12.8")
    write_doc(results, make_doc("jax010", [record]))
    known = tmp_path / "known.toml"
    known.write_text(SOMETIMES)
    out = tmp_path / "out"
    assert main_report([str(results), "-o", str(out), "--known-deviations", str(known)]) == 0
    page = (out / "index.html").read_text()
    assert 'data-status="not-reached"' in page
    assert "its tests passed this time, which is not a fix" in page
    capsys.readouterr()
    assert main_gate([str(results), "--known-deviations", str(known)]) == 0
    assert "not-reached" in capsys.readouterr().out
