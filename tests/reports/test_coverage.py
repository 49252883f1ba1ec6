"""Coverage is part of the result: what each target offered on the run's machine goes into the results
file (``observe.coverage``), the machine facts that decide kernels into its environment, and the report
shows both, with a side-by-side table where two runs of the same versions tested different things."""

from __future__ import annotations

import json

import numpy  # noqa: F401 - NumPy loaded before pytester's in-process runs (see test_plugin.py)
import pytest

from bnconform.reports.environment import cpu_flags, kernel_settings
from bnconform.reports.schema import ResultsError, load_results

from .conftest import make_doc, make_record
from .pagetext import tables
from .test_report import render

PLUGIN = ("-p", "bnconform.app.results_plugin")

OFFERED = {"offered": True, "reason": None}
NCHW = "The Conv2D op currently only supports the NHWC tensor format on the CPU. The op was given the format: NCHW"


def refused(dtype: str) -> dict:
    return {"offered": False, "reason": f"keras 3.15.1 refuses a channels_first Conv2D in {dtype}: {NCHW}"}


def keras_tf(probes: dict, **fields) -> dict:
    return {"framework": "keras", "version": "3.15.1", "backend": "tensorflow", "backend_version": "2.21.0",
            "available": True, "capabilities": {"conv_data_formats": ["channels_last", "channels_first"],
                                                "conv_paddings": ["valid", "same"]},
            "probes": probes, **fields}


def conv_record(dtype: str, **fields) -> dict:
    return make_record(**{"target": "keras-tensorflow", "framework": "keras", "version": "3.15.1",
                          "backend": "tensorflow", "backend_version": "2.21.0", "property": "conv2d",
                          "op": "conv2d", "mode": "-", "dtype": dtype, **fields})


# -- recording ---------------------------------------------------------------------------------

SUITE = '''
import pytest

@pytest.mark.bnconform(property="conv2d", op="conv2d")
@pytest.mark.parametrize("target, mode, dtype", [("alpha", "-", "float32"), ("alpha", "-", "float16")])
def test_conv(target, mode, dtype, observe):
    observe.coverage(target, {"available": True, "capabilities": {"conv_bias": True},
                              "probes": {"conv2d channels_first float16": {"offered": False, "reason": "no NCHW"}}})
    observe.example({"max_abs": 0.0})
'''


def test_the_plugin_writes_each_targets_coverage_once_with_its_identity(pytester):
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest(*PLUGIN, "--results", "out").assert_outcomes(passed=2)
    path = pytester.path / "out" / "results.json"
    coverage = json.loads(path.read_text())["coverage"]
    assert coverage == {"alpha": {"framework": "alpha", "version": None, "backend": None, "backend_version": None,
                                  "available": True, "capabilities": {"conv_bias": True},
                                  "probes": {"conv2d channels_first float16": {"offered": False, "reason": "no NCHW"}}}}
    assert load_results(path)["coverage"]["alpha"]["probes"]  # and the loader accepts it


def test_a_file_without_coverage_stays_valid_and_a_bad_entry_is_named(write):
    old = make_doc("old", [make_record()])
    assert load_results(write(old))["coverage"] == {}
    with pytest.raises(ResultsError, match=r"coverage\['torch'\] is int, expected an object"):
        load_results(write(make_doc("bad1", [], coverage={"torch": 3})))
    with pytest.raises(ResultsError, match=r"coverage\['torch'\]\.probes\['x'\] is bool, expected an object"):
        load_results(write(make_doc("bad2", [], coverage={"torch": {"probes": {"x": True}}})))


def test_the_environment_records_the_cpu_flags_that_decide_kernels(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\n"
                    "flags\t\t: fpu sse2 sse4_2 avx avx2 fma avx512f avx512_fp16 amx_tile amx_bf16 ht\n\n"
                    "processor\t: 1\nflags\t\t: fpu avx512f\n")
    assert cpu_flags(str(info)) == ["amx_bf16", "amx_tile", "avx", "avx2", "avx512_fp16", "avx512f", "fma", "sse4_2"]
    assert cpu_flags(str(tmp_path / "absent")) is None
    settings = kernel_settings({"TF_ENABLE_ONEDNN_OPTS": "0", "PATH": "/bin"})
    assert settings["TF_ENABLE_ONEDNN_OPTS"] == "0" and settings["XLA_FLAGS"] is None and "PATH" not in settings


# -- the report ----------------------------------------------------------------------------------


def coverage_html(page: str) -> str:
    return page[page.index('id="coverage"'):page.index('id="drift"')]


def test_each_target_shows_what_was_offered_and_refused_with_the_reason(write, tmp_path):
    probes = {"conv2d channels_first float32": OFFERED, "conv2d channels_first float16": refused("float16")}
    doc = make_doc("here", [conv_record("float32", unsupported={refused("float16")["reason"]: 4})],
                   coverage={"keras-tensorflow": keras_tf(probes),
                             "flax-nnx": {"available": False, "reason": "flax-nnx: flax is not installed"}})
    section = coverage_html(render(tmp_path, [write(doc)], "--no-known-deviations"))
    flax, keras = tables(section, "coverage")
    assert flax[1] == ["loaded", "no flax-nnx: flax is not installed"]
    rows = {row[0]: row[1:] for row in keras}
    assert rows["conv2d channels_first float32 probe"] == ["offered"]
    assert rows["conv2d channels_first float16 probe"] == [f"refused {refused('float16')['reason']}"]
    assert rows["examples refused while testing"] == [f"4 × {refused('float16')['reason']}"]
    assert rows["properties tested / skipped"] == ["1 / 0"]
    assert "coverage-diff" not in section  # one run: nothing to compare


def test_same_versions_that_tested_different_things_say_so_side_by_side(write, tmp_path):
    """The issue's case: oneDNN takes NCHW float32 on one machine; the other refuses it, so its
    channels_first float32 cases are never drawn and the same versions "pass" there."""
    onednn = write(make_doc("onednn", [conv_record("float32"), conv_record("float64")], coverage={
        "keras-tensorflow": keras_tf({"conv2d channels_first float32": OFFERED,
                                      "conv2d channels_first float64": refused("float64")})}))
    eigen = write(make_doc("eigen", [
        conv_record("float32", unsupported={refused("float32")["reason"]: 7}),
        conv_record("float64", verdict="skip", reason="no float64 conv here"),
    ], coverage={"keras-tensorflow": keras_tf({"conv2d channels_first float32": refused("float32"),
                                                "conv2d channels_first float64": refused("float64")})}))
    section = coverage_html(render(tmp_path, [onednn, eigen], "--no-known-deviations"))
    (diff,) = tables(section, "coverage-diff")
    assert diff[0] == ["what", "run eigen", "run onednn"]
    assert diff[1:] == [
        ["conv2d channels_first float32 probe", f"refused: {refused('float32')['reason']}", "offered"],
        ["conv2d · float64 property", "skipped: no float64 conv here", "tested"],
        [f"{refused('float32')['reason']} refusal", "7 example(s) refused", "never met"],
    ]
    (overview,) = tables(section, "coverage")
    assert overview[0] == ["", "keras 3.15.1 [tensorflow 2.21.0] run eigen", "keras 3.15.1 [tensorflow 2.21.0] run onednn"]
    # the probe whose verdict differs is marked in the overview too; the one refused in both is not
    assert '<th scope="row" class="differs">conv2d channels_first float32<' in section
    assert '<th scope="row">conv2d channels_first float64<' in section


def test_different_versions_are_not_compared_and_old_files_read_not_recorded(write, tmp_path):
    new = write(make_doc("new", [conv_record("float32")], coverage={
        "keras-tensorflow": keras_tf({"conv2d channels_first float32": OFFERED})}))
    old_record = conv_record("float32", version="3.14.1")
    old = write(make_doc("old", [old_record]))  # written before coverage was recorded
    section = coverage_html(render(tmp_path, [new, old], "--no-known-deviations"))
    assert tables(section, "coverage-diff") == []
    (overview,) = tables(section, "coverage")
    rows = {row[0]: row[1:] for row in overview}
    assert rows["loaded"] == ["not recorded", "yes"]  # 3.14.1 sorts first
    assert rows["conv2d channels_first float32 probe"] == ["not recorded", "offered"]


def test_the_same_versions_with_identical_coverage_show_no_difference(write, tmp_path):
    coverage = {"keras-tensorflow": keras_tf({"conv2d channels_first float32": OFFERED})}
    a = write(make_doc("a", [conv_record("float32")], coverage=coverage))
    b = write(make_doc("b", [conv_record("float32")], coverage=coverage))
    assert tables(coverage_html(render(tmp_path, [a, b], "--no-known-deviations")), "coverage-diff") == []


def test_environment_view_shows_the_kernel_settings_side_by_side(write, tmp_path):
    def doc(name, onednn):
        d = make_doc(name, [make_record()])
        d["environment"]["cpu_flags"] = ["avx2", "avx512f"]
        d["environment"]["kernel_settings"] = {"TF_ENABLE_ONEDNN_OPTS": onednn}
        return write(d)

    page = render(tmp_path, [doc("on", None), doc("off", "0")], "--no-known-deviations")
    section = page[page.index('id="environment"'):]
    assert '<th scope="row">cpu flags</th><td>avx2, avx512f</td><td>avx2, avx512f</td>' in section
    assert ('<th scope="row">TF_ENABLE_ONEDNN_OPTS</th><td class="differs">unset (the framework&#39;s default)</td>'
            '<td class="differs">0</td>') in section


def _item(capabilities, tested=None, production=None):
    from bnconform.reports.page.coverage_view import TargetCoverage

    item = TargetCoverage(run="r", target="t", framework="f", version="1", backend=None, backend_version=None,
                          recorded=True, available=True, capabilities=capabilities)
    item.tested.update(tested or {})
    item.production.update(production or {})
    return item


def test_each_option_is_tested_or_not_with_the_reason():
    """The options table (``coverage_view.OPTIONS``): an option the adapter offers and its property
    tested reads "tested"; one it does not declare names the capability; a skipped property gives its
    skip reason; an option never drawn says why; production sizes read their own test's records."""
    from bnconform.reports.page.coverage_view import OPTIONS, option_status

    by_option = {(layer, option): (flag, prop) for layer, option, flag, prop in OPTIONS}
    masks = by_option[("batch norm", "mask, call(x, training, mask), broadcast")]
    sync = by_option[("batch norm", "synchronized (cross-replica), one replica")]
    explicit = by_option[("conv2d", "explicit padding pairs")]
    production = by_option[("batch norm", "production sizes, drawn on and off the multiples of 8, 16, 32")]
    keras = _item({"bn_masks": True, "bn_synchronized": False, "conv_paddings": ["valid", "same"], "bn_ranks": [2, 4]},
                  tested={("bn_masked", "batch_norm", "train", "float32"): "tested"},
                  production={"bn_forward": "tested"})
    assert option_status(keras, *masks) == "tested"
    assert option_status(keras, *sync) == "not offered: bn_synchronized is false"
    assert option_status(keras, *explicit) == "not offered: conv_paddings has no 'explicit'"
    assert option_status(keras, *production) == "tested"
    torch = _item({"bn_synchronized": True, "bn_ranks": [2, 4]},
                  tested={("bn_synchronized", "batch_norm", "train", "float32"): "skipped: SyncBatchNorm refuses CPU"})
    assert option_status(torch, *sync) == "not tested: skipped: SyncBatchNorm refuses CPU"
    assert option_status(torch, *production) == "not in this run (production:bn_forward not run)"
    never = next((flag, prop) for layer, option, flag, prop in OPTIONS if flag is None)
    assert option_status(torch, *never).startswith("not tested: not drawn")
