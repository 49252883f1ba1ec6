"""The known-deviations file: parsing (errors name the entry and its line), matching, re-deriving
verdicts from the explained examples, entry status."""

import pytest

from bnconform.reports.deviations import DeviationsError, classify, entry_statuses, load_deviations, parse_deviations

from .conftest import make_record

ENTRY = '''
[[deviation]]
id = "flax-one-pass"
target = "flax-*"
framework = "flax"
versions = ">=0.7,<0.13"
property = "bn_forward*"
op = "batch_norm"
mode = "train"
model = "one_pass_variance"
reason = "one-pass variance"
link = "https://example.org/1"
'''


def test_the_repository_file_is_valid():
    """Guards the checked-in file: it parses (every entry a known model with valid parameters and a
    bounded version range), ids are unique, and every entry links to an http(s) page."""
    from bnconform.reports.page.common import safe_href

    from .conftest import REPO

    entries = load_deviations(REPO / "bnconform" / "known_deviations.toml")
    assert [d.index for d in entries if not safe_href(d.link)] == []
    assert len({d.id for d in entries}) == len(entries)
    assert all(d.line is not None for d in entries)


def flax(**fields):
    base = dict(target="flax-linen", framework="flax", version="0.12.8", property="bn_forward_adversarial",
                op="batch_norm", mode="train", dtype="float32")
    base.update(fields)
    return make_record(**base)


@pytest.mark.parametrize("fields, expected", [
    ({}, True),
    ({"target": "flax-nnx"}, True),                 # pattern flax-*
    ({"target": "keras-jax"}, False),
    ({"version": "0.7"}, True),
    ({"version": "0.6.9"}, False),
    ({"version": "0.13.0"}, False),
    ({"version": "0.12.9.dev3"}, True),             # pre-releases inside the range count
    ({"version": "0.13.0rc1"}, False),              # PEP 440: "<0.13" excludes 0.13's pre-releases
    ({"version": "0.12.8+local"}, True),            # local labels count like the release
    ({"version": None}, False),                     # unknown version: never matches
    ({"version": "not a version"}, False),
    ({"property": "bn_forward"}, True),
    ({"property": "bn_backward"}, False),
    ({"mode": "inference"}, False),
    ({"op": "conv2d"}, False),
])
def test_matching(fields, expected):
    (entry,) = parse_deviations(ENTRY)
    assert entry.matches(flax(**fields)) is expected


CUDA = {"platform": "cuda", "name": "cuda:0 NVIDIA H200"}
JAX_GPU = {"platform": "gpu", "name": "cuda:0 NVIDIA H200"}
HOST = {"platform": "cpu", "name": "cpu"}


@pytest.mark.parametrize("written, device, expected", [
    (None, HOST, True), (None, CUDA, True),           # no device: every device
    ('"cuda"', CUDA, True), ('"cuda"', JAX_GPU, True),  # the accelerator, whichever name its framework gives it
    ('"gpu"', CUDA, True), ('"cuda"', HOST, False),
    ('"cuda"', None, False),                           # a record from before devices: the cpu
    ('"cpu"', HOST, True), ('"cpu"', None, True), ('"cpu"', JAX_GPU, False),
    ('"cuda"', {"platform": "cuda", "name": None}, True),  # asked for, before the adapter is placed
])
def test_an_entry_naming_a_device_covers_the_tests_run_there_only(written, device, expected):
    text = ENTRY if written is None else ENTRY.replace('mode = "train"', f'mode = "train"\ndevice = {written}')
    (entry,) = parse_deviations(text)
    assert entry.matches(flax(device=device)) is expected


def test_an_entry_carries_its_id_model_params_and_line():
    (entry,) = parse_deviations(ENTRY.replace('model = "one_pass_variance"',
                                              'model = "one_pass_variance"\nparams = { compute_dtype = "float32" }'))
    assert (entry.id, entry.model, dict(entry.params), entry.line) == (
        "flax-one-pass", "one_pass_variance", {"compute_dtype": "float32"}, 2)
    assert entry.model_text == 'one_pass_variance(compute_dtype="float32")'
    assert entry.as_dict()["params"] == {"compute_dtype": "float32"}


def explained(verdict="known-deviation", count=3, entry_id="flax-one-pass", **fields):
    return flax(verdict=verdict, explained={entry_id: count},
                deviations=[{"id": entry_id, "model": "one_pass_variance", "params": {}}], **fields)


def test_classify_a_record_explained_by_an_entry_in_the_file():
    entries = parse_deviations(ENTRY)
    verdict, explaining, reason = classify(explained(), entries)
    assert (verdict, [e.id for e in explaining], reason) == ("known-deviation", ["flax-one-pass"], None)


@pytest.mark.parametrize("recorded, expected", [
    ("pass", "pass"),
    ("fail", "fail"),   # an unexplained failure stays one, whatever the file says
    ("error", "error"),
    ("skip", "skip"),
    ("fixed-deviation", "pass"),  # older files
])
def test_classify_records_without_explained_examples(recorded, expected):
    assert classify(flax(verdict=recorded), parse_deviations(ENTRY)) == (expected, [], None)


def test_a_failed_record_stays_failed_even_with_some_explained_examples():
    assert classify(explained(verdict="fail"), parse_deviations(ENTRY)).verdict == "fail"


def test_an_old_whole_test_known_deviation_is_a_failure_now():
    verdict, _, reason = classify(flax(verdict="known-deviation"), parse_deviations(ENTRY))
    assert verdict == "fail" and "before entries were models" in reason


def test_an_explaining_entry_that_is_gone_makes_the_record_fail():
    verdict, entries, reason = classify(explained(entry_id="renamed"), parse_deviations(ENTRY))
    assert (verdict, entries) == ("fail", [])
    assert reason == "3 example(s) explained by entry renamed, which is no longer in the known-deviations file"


def test_an_entry_whose_versions_no_longer_include_the_record_makes_it_fail():
    narrowed = parse_deviations(ENTRY.replace('">=0.7,<0.13"', '">=0.7,<0.12"'))
    verdict, _, reason = classify(explained(), narrowed)
    assert verdict == "fail"
    assert reason == "3 example(s) explained by entry flax-one-pass, whose versions >=0.7,<0.12 no longer include flax 0.12.8"


def test_an_entry_that_no_longer_covers_the_property_makes_it_fail():
    moved = parse_deviations(ENTRY.replace('property = "bn_forward*"', 'property = "bn_backward"'))
    assert classify(explained(), moved).reason == "3 example(s) explained by entry flax-one-pass, which no longer covers this test"


def test_an_entry_that_now_names_another_model_makes_it_fail():
    other = parse_deviations(ENTRY.replace('model = "one_pass_variance"', 'model = "float32_compute"'))
    verdict, _, reason = classify(explained(), other)
    assert verdict == "fail" and "the entry now names float32_compute(): re-run" in reason


def test_entry_statuses():
    text = ENTRY + '''
[[deviation]]
id = "torch-old"
framework = "torch"
versions = "<2.0"
property = "bn_moving_stats"
model = "unbiased_moving_variance"
reason = "old"
link = "https://example.org/2"

[[deviation]]
id = "torch-typo"
framework = "torch"
versions = ">=2.0,<3"
property = "bn_moving_stats"
mode = "inferense"
model = "unbiased_moving_variance"
reason = "typo"
link = "https://example.org/3"

[[deviation]]
id = "jax-untested"
framework = "jax"
versions = "<1"
property = "pool2d"
model = "float32_compute"
reason = "not tested here"
link = "https://example.org/4"

[[deviation]]
id = "keras-rare"
framework = "keras"
versions = "<=3.15.1"
property = "pool2d"
model = "half_precision_accumulation"
reason = "rare inputs"
link = "https://example.org/5"

[[deviation]]
id = "keras-skipped"
framework = "keras"
versions = "<=3.15.1"
property = "pool2d_nonfinite"
model = "half_precision_accumulation"
reason = "only skipped here"
link = "https://example.org/6"
'''
    records = [
        explained(count=4),
        explained(count=2, target="flax-nnx"),
        make_record(framework="torch", version="2.13.0", property="bn_moving_stats"),
        make_record(target="keras-jax", framework="keras", version="3.15.1", property="pool2d", op="pool2d", kind="avg"),
        make_record(target="keras-jax", framework="keras", version="3.15.1", property="pool2d_nonfinite",
                    verdict="skip"),
    ]
    statuses = entry_statuses(parse_deviations(text), records)
    assert [(s.deviation.id, s.status, s.examples, s.tests) for s in statuses] == [
        ("flax-one-pass", "active", 6, 2), ("torch-old", "stale", 0, 0), ("torch-typo", "unused", 0, 0),
        ("jax-untested", "not-tested", 0, 0), ("keras-rare", "not-reached", 0, 0),
        ("keras-skipped", "inconclusive", 0, 0)]
    assert statuses[1].tested_versions == ["2.13.0"]
    assert [s.is_warning for s in statuses] == [False, True, True, False, False, False]


def entry(**fields) -> str:
    """One entry's TOML after a comment line, so that its header is on line 2."""
    base = {"id": "e1", "framework": "flax", "versions": ">=0.7,<0.13", "property": "bn_forward",
            "model": "one_pass_variance", "reason": "r", "link": "https://example.org/1"}
    base.update(fields)
    lines = ["# a comment", "[[deviation]]"]
    for key, value in base.items():
        if value is not None:
            lines.append(f"{key} = {value}" if key == "params" else f"{key} = {value!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, problem", [
    (entry(model="two_pass_magic"), ":2: deviation #1 (id e1): unknown model 'two_pass_magic'; known: bias_along_last_axis, float32_compute"),
    (entry(params="{ compute_dtype = 'float32', accumulate = 'x' }"),
     ":2: deviation #1 (id e1): model 'one_pass_variance' takes clamped, compute_dtype; unknown parameter(s) accumulate"),
    (entry(params="{ compute_dtype = 'float65' }"),
     ":2: deviation #1 (id e1): model 'one_pass_variance': parameter compute_dtype must be one of float16"),
    (entry(model="float32_compute", params="{ compute_dtype = 'float32' }"),
     ":2: deviation #1 (id e1): model 'float32_compute' takes no parameters; unknown parameter(s) compute_dtype"),
    (entry(versions="newer than 0.7"), ":2: deviation #1 (id e1): versions 'newer than 0.7' is not a PEP 440 specifier"),
    (entry(versions=">=0.7"), ":2: deviation #1 (id e1): versions '>=0.7' has no upper bound"),
    (entry(versions="*"), ":2: deviation #1 (id e1): versions '*': give a bounded PEP 440 range"),
    (entry(model=None), ":2: deviation #1 (id e1): missing required key(s) model"),
    (entry(id=None), ":2: deviation #1: missing required key(s) id"),
    (entry(id="Not A Slug"), ":2: deviation #1 (id Not A Slug): id 'Not A Slug' must be a slug"),
    (entry(occurs="sometimes"), ":2: deviation #1 (id e1): unknown key occurs: 'occurs' is no longer used"),
    (entry(version="1"), ":2: deviation #1 (id e1): unknown key(s) version"),
    (entry(property="conv2d", model="nan_skipping_max_pool"),
     ":2: deviation #1 (id e1): model 'nan_skipping_max_pool' judges the check(s) pool2d of the properties pool2d, pool2d_nonfinite, pool2d_lp_odd_p, pool2d_lp_ceil_mode; property 'conv2d' matches none"),
    (entry(property="bn_froward"), ":2: deviation #1 (id e1): property 'bn_froward' matches no property of "
                                   "bnconform/properties.py (bn_forward, "),
    (entry(op="batch_nrom"), ":2: deviation #1 (id e1): op 'batch_nrom' matches no op of the properties 'bn_forward'"),
    (entry(property="pool2d", op="avg_pool2d", model="half_precision_accumulation"),
     ':2: deviation #1 (id e1): op \'avg_pool2d\' is a pooling kind\'s old name: write op = "pool2d" and kind = "avg"'),
    (entry(property="pool2d_nonfinite", kind="lp", model="half_precision_accumulation"),
     ":2: deviation #1 (id e1): kind 'lp' matches no pooling kind of the properties 'pool2d_nonfinite' matches (avg, max)"),
    (entry(kind="max"), ":2: deviation #1 (id e1): kind 'max' matches no pooling kind of the properties 'bn_forward' "
                        "matches (none)"),
    (entry(reason="  "), ":2: deviation #1 (id e1): reason must not be empty"),
    (entry(device="h200"), ":2: deviation #1 (id e1): device 'h200': expected cpu, or cuda (alias gpu)"),
    (entry(device="cuda*"), ":2: deviation #1 (id e1): device 'cuda*': expected cpu, or cuda (alias gpu)"),
    (entry(params="3"), ":2: deviation #1 (id e1): params must be an inline table"),
    (entry() + "\n# second\n\n" + entry().replace("# a comment\n", ""),
     ":13: deviation #2 (id e1): duplicate id, already used by deviation #1 (line 2)"),
    ("deviation = 1", ": 'deviation' must be an array of tables"),
    ("[deviations]\nx = 1", ": unknown top-level key(s) deviations"),
    ("[[deviation]\n", ": not valid TOML"),
])
def test_bad_files_are_refused_naming_the_entry_and_its_line(tmp_path, text, problem):
    path = tmp_path / "kd.toml"
    path.write_text(text)
    with pytest.raises(DeviationsError) as info:
        load_deviations(path)
    assert str(info.value).startswith(str(path) + problem), str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DeviationsError, match="no such file"):
        load_deviations(tmp_path / "absent.toml")


def test_an_entry_for_the_accelerator_is_not_tested_by_a_run_on_the_cpu():
    """Not "unused" (a typo's warning): nothing ran where it applies."""
    text = ENTRY.replace('mode = "train"', 'mode = "train"\ndevice = "gpu"')
    (entry,) = parse_deviations(text)
    assert (entry.device, entry.label) == ("cuda", "#1 flax-one-pass (target=flax-* flax >=0.7,<0.13 bn_forward*/batch_norm "
                                                    "mode=train device=cuda)")
    on_cpu = [flax(device=HOST), flax(device=HOST, target="flax-nnx")]
    assert [s.status for s in entry_statuses([entry], on_cpu)] == ["not-tested"]
    on_gpu = [flax(device=JAX_GPU, verdict="known-deviation", explained={"flax-one-pass": 2})]
    assert [(s.status, s.examples) for s in entry_statuses([entry], on_gpu)] == [("active", 2)]
    assert entry.as_dict()["device"] == "cuda"
