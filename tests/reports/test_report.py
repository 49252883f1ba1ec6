"""The HTML report: merged runs, matrix counts, escaping, self-containment, every section."""

from __future__ import annotations

import html
import re

from bnconform.app.reports_cli import main_report

from .conftest import DEVIATION_FLAX, explained_record, make_doc, make_record
from .pagetext import matrix_cells

STALE = '''
[[deviation]]
id = "torch-ancient"
framework = "torch"
versions = "<2.0"
property = "bn_moving_stats"
model = "unbiased_moving_variance"
reason = "ancient"
link = "https://example.org/torch/9"
'''


def render(tmp_path, paths, *extra) -> str:
    out = tmp_path / "site"
    extra = [*map(str, extra)] + (["--no-shipped-deviations"] if "--known-deviations" in map(str, extra) else [])
    assert main_report([*map(str, paths), "-o", str(out), *extra]) == 0
    return (out / "index.html").read_text(encoding="utf-8")


def two_torch_runs(write):
    old = write(make_doc("torch212", [
        make_record(version="2.12.0", dtype="float32"),
        make_record(version="2.12.0", dtype="float16", max_tol_ratio=0.2),
        make_record(version="2.12.0", op="conv2d", mode="-", property="conv2d_forward"),
    ]))
    new = write(make_doc("torch213", [
        make_record(dtype="float32"),
        make_record(dtype="float16", verdict="fail", max_tol_ratio=3.0, message="1 of 8 elements outside"),
        make_record(dtype="bfloat16"),
        make_record(op="conv2d", mode="-", property="conv2d_forward"),
        make_record(op="conv2d", mode="-", property="conv2d_forward", dtype="float16", verdict="skip",
                    reason="no float16 conv on CPU"),
    ]))
    return old, new


def test_merged_runs_side_by_side_with_the_right_counts(write, tmp_path, capsys):
    page = render(tmp_path, two_torch_runs(write), "--no-known-deviations")
    assert "index.html: 2 run(s)" in capsys.readouterr().out
    assert matrix_cells(page) == {
        ("torch212", "torch", "batch_norm · train"): {"pass": 2},
        ("torch212", "torch", "conv2d"): {"pass": 1},
        ("torch213", "torch", "batch_norm · train"): {"fail": 1, "pass": 2},
        ("torch213", "torch", "conv2d"): {"pass": 1, "skip": 1},
    }
    # rows in version order, each cell linking to its details
    assert page.index("torch 2.12.0") < page.index("torch 2.13.0")
    for anchor in re.findall(r'<td[^>]*data-col[^>]*><a href="#([^"]+)"', page):
        assert f'id="{anchor}"' in page
    # the version comparison names the test whose verdict changed
    changed = page[page.index("Verdict changed (1)"):page.index('id="failures"')]
    assert "float16" in changed and "torch212 2.12.0" in changed and "torch213 2.13.0" in changed
    assert "Largest growth of error / tolerance" in changed and "×15" in changed  # 3.0 / 0.2


def test_failure_details_show_example_errors_and_replay(write, tmp_path):
    failing = make_record(verdict="fail", max_abs_error=0.25, max_ulp_error=41.0, max_tol_ratio=6.5,
                          example={"op": "batch_norm", "shape": [2, 3], "seed": 11},
                          replay="python -m bnconform replay torch bn_forward train '{\"seed\":11}'",
                          message="AssertionError: 2 of 6 elements outside tolerance")
    page = render(tmp_path, [write(make_doc("r", [failing]))], "--no-known-deviations")
    section = page[page.index('id="failures"'):page.index('id="deviations"')]
    assert "Failures (1 new, 0 known)" in section
    text = html.unescape(section)
    assert '"seed": 11' in text and '"shape": [\n    2,\n    3\n  ]' in text  # pretty JSON
    assert "python -m bnconform replay torch bn_forward train &#39;{&#34;seed&#34;:11}&#39;" in section
    assert "2 of 6 elements outside tolerance" in section
    assert ">41<" in section and ">6.5<" in section and ">0.25<" in section
    assert 'class="banner fail"' in page


def test_every_foreign_string_is_escaped(write, tmp_path):
    evil = "<script>alert(1)</script>"
    record = make_record(verdict="fail", message=f"AssertionError: {evil}", property=f"p{evil}",
                         example={"note": evil}, replay=f"replay {evil}", target=f"t{evil}")
    doc = make_doc(f"run{evil}", [record, make_record(verdict="skip", reason=evil, dtype="float16")],
                   fingerprints={"torch": {"framework": "torch", "version": "2.13.0",
                                           "probes": {f"probe{evil}": {"value": "<img src=x onerror=alert(2)>",
                                                                       "evidence": evil}}}},
                   cifar=[{"target": evil, "arch": evil, "bn": True, "test_accuracy": 0.7, "verdict": evil,
                           "epochs": [{"epoch": 1, "val_accuracy": 0.5, "loss": 1.0}]}],
                   environment={"python": evil, "frameworks": {evil: evil}, "pip_freeze": [f"{evil}==1"]})
    kd = tmp_path / "kd.toml"
    kd.write_text('[[deviation]]\nid = "x"\nframework = "torch"\nversions = "<9"\nproperty = "pool2d"\n'
                  'model = "float32_compute"\nreason = "<b>bold</b>"\nlink = "javascript:alert(3)"\n')
    page = render(tmp_path, [write(doc)], "--known-deviations", kd)
    assert "<script" not in page.lower()
    assert "<img" not in page and "<b>bold" not in page
    assert 'href="javascript' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") >= 10  # message, property, example, replay, target, run, ...


def test_the_page_is_self_contained(write, tmp_path):
    page = render(tmp_path, two_torch_runs(write), "--no-known-deviations")
    assert " src=" not in page
    assert "@import" not in page and "url(" not in page
    assert re.findall(r'<link[^>]*href="([^"]*)"', page) == ["data:,"]
    assert all(h.startswith("#") for h in re.findall(r'<a[^>]*href="([^"]*)"', page))
    assert "<svg" in page and "<style>" in page


def test_not_reached_and_stale_entries_are_shown(write, tmp_path):
    kd = tmp_path / "kd.toml"
    kd.write_text(DEVIATION_FLAX + STALE)
    passed = make_record(target="flax-linen", framework="flax", version="0.12.8",
                         property="bn_forward_adversarial", verdict="pass")
    page = render(tmp_path, [write(make_doc("jax", [passed, make_record()]))], "--known-deviations", kd)
    assert matrix_cells(page)[("jax", "flax-linen", "batch_norm · train")] == {"pass": 1}
    assert re.search(r'id="deviation-1" data-status="not-reached"', page)
    assert "its tests ran and no example needed it" in page
    assert re.search(r'id="deviation-2" data-status="stale"', page)
    assert "no tested version of the framework is in its range" in page
    header = page[:page.index("<nav")]
    assert "stale known deviation #2 torch-ancient" in header
    assert 'class="banner pass"' in header


def test_known_deviation_is_listed_with_model_count_reason_and_link(write, tmp_path):
    kd = tmp_path / "kd.toml"
    kd.write_text(DEVIATION_FLAX.replace('model = "one_pass_variance"',
                                         'model = "one_pass_variance"\nparams = { compute_dtype = "float32" }'))
    known = explained_record(count=5, deviations=[{"id": "flax-one-pass", "model": "one_pass_variance",
                                                   "params": {"compute_dtype": "float32"}}])
    page = render(tmp_path, [write(make_doc("jax", [known]))], "--known-deviations", kd)
    assert matrix_cells(page)[("jax", "flax-linen", "batch_norm · train")] == {"known-deviation": 1}
    section = page[page.index('id="failures"'):page.index('id="deviations"')]
    assert "Failures (0 new, 1 known)" in section
    text = html.unescape(section)
    assert "#1 <code>flax-one-pass</code> <code>one_pass_variance(compute_dtype='float32')</code> explained 5 example(s)." in text
    assert 'one-pass variance <a href="https://example.org/flax/1">' in section
    table = html.unescape(page[page.index('id="deviations"'):])
    assert '<code>one_pass_variance(compute_dtype="float32")</code>' in table
    assert re.search(r'id="deviation-1" data-status="active"', table)
    assert '<td class="num">5 (1)</td>' in table


def test_drift_section_reports_ulps(write, tmp_path):
    def drift(output):
        return [{"target": "torch", "op": "conv2d", "case": {"seed": 0}, "output": output, "dtype": "float16"}]

    old = write(make_doc("torch212", [make_record(version="2.12.0")], drift=drift([1.0, 2.0])))
    new = write(make_doc("torch213", [make_record()], drift=drift([1.0, 2.0 + 3 * 2.0 ** -9])))  # 3 fp16 ULPs
    page = render(tmp_path, [new, old], "--no-known-deviations")
    section = page[page.index('id="drift"'):page.index('id="cells"')]
    row = re.search(r"<tr><td>torch</td><td>conv2d</td><td>float16</td>(.*?)</tr>", section).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == ["1", "1", "3", "0"]  # cases, changed, max ULP, NaN mismatches
    assert row.index("torch212") < row.index("torch213")  # older version first, whatever the argument order


def test_cifar_section_only_with_cifar_records(write, tmp_path):
    plain = render(tmp_path, [write(make_doc("a", [make_record()]))], "--no-known-deviations")
    assert 'id="cifar"' not in plain
    record = {"target": "torch", "framework": "torch", "version": "2.13.0", "backend": None, "arch": "A",
              "bn": True, "profile": "ci", "seed": 0,
              "data": {"source": "synthetic", "sha256": "ab" * 32, "n_train": 512, "n_test": 128},
              "epochs": [{"epoch": 1, "loss": 2.0, "accuracy": 0.3, "val_loss": 2.1, "val_accuracy": 0.28,
                          "images_per_s": 900.0, "seconds": 1.0},
                         {"epoch": 2, "loss": 1.5, "accuracy": 0.5, "val_loss": 1.6, "val_accuracy": 0.47,
                          "images_per_s": 1100.0, "seconds": 1.0}],
              "test_accuracy": 0.46, "baseline": {"mean": 0.48, "std": 0.01}, "threshold": 0.45,
              "margin": 0.03, "verdict": "pass"}
    page = render(tmp_path, [write(make_doc("b", [make_record()], cifar=[record]))], "--no-known-deviations")
    section = page[page.index('id="cifar"'):page.index('id="cells"')]
    assert "arch A: validation accuracy" in section and "arch A: training loss" in section
    assert "0.47 – 0.49" in section  # mean ± std
    assert ">1000<" in section  # mean images per second
    assert section.count("<polyline") + section.count('class="line"') >= 2


def test_cifar_bn_against_no_bn_pairs_runs_alike_in_all_else(write, tmp_path):
    def run(bn, seed, accuracy):
        return {"target": "torch", "framework": "torch", "version": "2.13.0", "versions": {"torch": "2.13.0"},
                "arch": "B", "bn": bn, "profile": "standard", "seed": seed, "data": {"sha256": "ab" * 32},
                "epochs": [], "test_accuracy": accuracy, "verdict": "no-baseline"}

    # seed 0 has both; seed 1 only a BN run: no pair
    cifar = [run(True, 0, 0.7362), run(False, 0, 0.7185), run(True, 1, 0.7322)]
    page = render(tmp_path, [write(make_doc("b", [make_record()], cifar=cifar))], "--no-known-deviations")
    section = page[page.index("With and without batch norm"):page.index('id="cells"')]
    table = section[:section.index("</table>")]
    assert table.count("<tr>") == 2  # header and the one pair
    assert ">0.7362<" in table and ">0.7185<" in table and ">+0.0177<" in table
    assert ">0.7322<" not in table


def test_fingerprints_side_by_side_with_differences_highlighted(write, tmp_path):
    def fp(framework, meaning):
        return {"framework": framework, "version": "1.0", "probes": {"momentum_meaning": {"value": meaning}}}

    doc = make_doc("r", [make_record()], fingerprints={"torch": fp("torch", "torch"), "keras-jax": fp("keras", "keras"),
                                                       "flax-linen": fp("flax", "keras")})
    page = render(tmp_path, [write(doc)], "--no-known-deviations")
    section = page[page.index('id="fingerprints"'):page.index('id="drift"')]
    assert re.findall(r"<td[^>]*>(keras|torch)</td>", section) == ["keras", "keras", "torch"]
    assert re.findall(r'<td class="differs"[^>]*>(\w+)', section) == ["torch"]


def test_report_exits_2_on_a_truncated_file_naming_it(write, tmp_path, capsys):
    path = write(make_doc("r", [make_record()]))
    path.write_text(path.read_text()[:30])
    assert main_report([str(path), "-o", str(tmp_path / "o")]) == 2
    assert f"{path}: truncated JSON" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_script_from_a_real_test_run_ends_up_escaped(pytester, tmp_path):
    """The done-criterion end to end: a test's message with <script> through plugin and report."""
    pytester.makepyfile(test_evil='''
import pytest

@pytest.mark.bnconform(property="bn_forward", op="batch_norm")
@pytest.mark.parametrize("target, mode, dtype", [("alpha", "train", "float32")])
def test_evil(target, mode, dtype, observe):
    assert False, "<script>document.title='owned'</script>"
''')
    pytester.runpytest("-p", "bnconform.app.results_plugin", "--results", "out")
    page = render(tmp_path, [pytester.path / "out" / "results.json"], "--no-known-deviations")
    assert "&lt;script&gt;document.title=&#39;owned&#39;&lt;/script&gt;" in page
    assert "<script" not in page


def test_a_known_crash_shows_the_exception_its_crash_model_explained(write, tmp_path):
    kd = tmp_path / "kd.toml"
    kd.write_text(DEVIATION_FLAX)
    line = "IndexError: tuple index out of range <b>"  # escaped on the page, like any text of a record
    known = explained_record(count=2, explained_crashes={"flax-one-pass": line})
    section = render(tmp_path, [write(make_doc("jax", [known]))], "--known-deviations", kd)
    section = section[section.index('id="failures"'):section.index('id="deviations"')]
    assert ("explained 2 example(s). The framework raised, as its crash model predicts (the last one): "
            "<code>IndexError: tuple index out of range &lt;b&gt;</code>.") in section
    plain = explained_record(count=2)
    section = render(tmp_path, [write(make_doc("jax", [plain]))], "--known-deviations", kd)
    assert "The framework raised" not in section
