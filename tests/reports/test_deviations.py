"""The known-deviations file: parsing, matching, re-deriving verdicts, entry status."""

import pytest

from reports.deviations import DeviationsError, classify, entry_statuses, load_deviations, parse_deviations

from .conftest import make_record

ENTRY = '''
[[deviation]]
target = "flax-*"
framework = "flax"
versions = ">=0.7,<0.13"
property = "bn_forward*"
op = "batch_norm"
mode = "train"
reason = "one-pass variance"
link = "https://example.org/1"
'''


def test_the_repository_file_is_valid():
    """Guards the checked-in file: it parses, and every entry links to an http(s) page."""
    from reports.markup import safe_href

    from .conftest import REPO

    entries = load_deviations(REPO / "known_deviations.toml")
    assert [d.index for d in entries if not safe_href(d.link)] == []


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
    ({"version": None}, False),                     # unknown version: only "*" matches
    ({"version": "not a version"}, False),
    ({"property": "bn_forward"}, True),
    ({"property": "bn_backward"}, False),
    ({"mode": "inference"}, False),
    ({"op": "conv2d"}, False),
])
def test_matching(fields, expected):
    (entry,) = parse_deviations(ENTRY)
    assert entry.matches(flax(**fields)) is expected


def test_star_versions_match_unknown_versions():
    (entry,) = parse_deviations(ENTRY.replace('">=0.7,<0.13"', '"*"'))
    assert entry.matches(flax(version=None))


@pytest.mark.parametrize("recorded, expected", [
    ("fail", "known-deviation"),
    ("known-deviation", "known-deviation"),
    ("pass", "fixed-deviation"),
    ("fixed-deviation", "fixed-deviation"),
    ("error", "error"),  # an exception is never a known deviation
    ("skip", "skip"),
])
def test_classify_covered_records(recorded, expected):
    entries = parse_deviations(ENTRY)
    verdict, entry = classify(flax(verdict=recorded), entries)
    assert verdict == expected
    assert (entry is not None) == (expected in ("known-deviation", "fixed-deviation"))


@pytest.mark.parametrize("recorded, expected", [
    ("known-deviation", "fail"), ("fixed-deviation", "pass"), ("fail", "fail"), ("pass", "pass")])
def test_classify_without_a_covering_entry(recorded, expected):
    assert classify(flax(verdict=recorded, property="conv2d_forward"), parse_deviations(ENTRY)) == (expected, None)


def test_entry_statuses():
    text = ENTRY + '''
[[deviation]]
framework = "torch"
versions = "<2.0"
property = "bn_moving_stats"
reason = "old"
link = "https://example.org/2"

[[deviation]]
framework = "torch"
versions = ">=2.0"
property = "bn_renamed_property"
reason = "typo"
link = "https://example.org/3"

[[deviation]]
framework = "jax"
versions = "*"
property = "*"
reason = "not tested here"
link = "https://example.org/4"

[[deviation]]
framework = "keras"
versions = "*"
property = "conv2d_same_padding"
reason = "fixed upstream"
link = "https://example.org/5"

[[deviation]]
framework = "keras"
versions = "*"
property = "conv2d_forward"
reason = "only skipped here"
link = "https://example.org/6"
'''
    records = [
        flax(verdict="known-deviation"),
        make_record(framework="torch", version="2.13.0", property="bn_moving_stats"),
        make_record(target="keras-jax", framework="keras", version="3.15.1", property="conv2d_same_padding",
                    verdict="fixed-deviation"),
        make_record(target="keras-jax", framework="keras", version="3.15.1", property="conv2d_forward",
                    verdict="skip"),
    ]
    statuses = entry_statuses(parse_deviations(text), records)
    assert [(s.status, s.known, s.fixed) for s in statuses] == [
        ("active", 1, 0), ("stale", 0, 0), ("unused", 0, 0), ("not-tested", 0, 0), ("fixed", 0, 1),
        ("inconclusive", 0, 0)]
    assert statuses[1].tested_versions == ["2.13.0"]
    assert [s.is_warning for s in statuses] == [False, True, True, False, True, False]


@pytest.mark.parametrize("text, problem", [
    ("[[deviation]]\nframework = 'x'", "deviation #1: missing required key\\(s\\) versions, property, reason, link"),
    (ENTRY.replace("versions", "version"), "deviation #1: unknown key\\(s\\) version"),
    (ENTRY.replace('">=0.7,<0.13"', '"newer than 0.7"'), "versions 'newer than 0.7' is not a PEP 440 specifier"),
    (ENTRY.replace('"one-pass variance"', "3"), "deviation #1: reason must be a string"),
    (ENTRY.replace('"one-pass variance"', '"  "'), "reason must not be empty"),
    ("deviation = 1", "'deviation' must be an array of tables"),
    ("[deviations]\nx = 1", "unknown top-level key\\(s\\) deviations"),
    ("[[deviation]\n", "not valid TOML"),
])
def test_bad_files_are_refused_naming_the_problem(tmp_path, text, problem):
    path = tmp_path / "kd.toml"
    path.write_text(text)
    with pytest.raises(DeviationsError, match=problem) as info:
        load_deviations(path)
    assert str(info.value).startswith(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(DeviationsError, match="no such file"):
        load_deviations(tmp_path / "absent.toml")


def test_a_sometimes_entry_covers_failures_but_a_pass_is_not_a_fix():
    from reports.deviations import classify, entry_statuses, parse_deviations

    entries = parse_deviations(
        '[[deviation]]\nframework = "flax"\nversions = "*"\nproperty = "bn_forward"\n'
        'occurs = "sometimes"\nreason = "one-pass variance on ill-conditioned draws"\nlink = "https://example.org/1"\n'
    )
    failing = {"framework": "flax", "version": "0.12.8", "property": "bn_forward", "verdict": "fail"}
    passing = {**failing, "verdict": "pass"}
    assert classify(failing, entries) == ("known-deviation", entries[0])
    assert classify(passing, entries) == ("pass", None)
    (status,) = entry_statuses(entries, [{**passing}])
    assert status.status == "not-reached" and not status.is_warning


def test_occurs_takes_only_always_or_sometimes():
    import pytest

    from reports.deviations import DeviationsError, parse_deviations

    with pytest.raises(DeviationsError, match="occurs must be one of always, sometimes"):
        parse_deviations('[[deviation]]\nframework = "f"\nversions = "*"\nproperty = "p"\n'
                         'occurs = "often"\nreason = "r"\nlink = "l"\n')
