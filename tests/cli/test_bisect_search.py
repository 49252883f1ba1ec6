"""The search of ``bnconform bisect`` on fake releases (no install, no network): a change point is
found in the fewest probes, unusable releases are named and stepped over, never taken for a verdict,
equal ends and single releases are said so, and the release list is filtered by version."""

from __future__ import annotations

import math

import pytest

from bnconform.app.bisect_search import (EQUAL, FOUND, UNDECIDABLE, Probe, bisect, parse_index_versions, scan,
                                         select_releases)

RELEASES = [f"1.{i}.0" for i in range(20)]


class Fake:
    """Releases before ``change`` pass and the rest fail (an integer index); ``broken`` do not install.
    Records the releases probed, in order."""

    def __init__(self, change: int, broken=(), releases=RELEASES, after="fail"):
        self.change, self.broken, self.releases, self.after = change, set(broken), releases, after
        self.asked: list[str] = []

    def __call__(self, release: str) -> Probe:
        self.asked.append(release)
        i = self.releases.index(release)
        if i in self.broken:
            return Probe(release, problem="does not install: ERROR: no matching distribution")
        verdict = "pass" if i < self.change else self.after
        return Probe(release, verdict=verdict, lines=(f"heading {release}", f"{verdict} line"))


@pytest.mark.parametrize("change", [1, 2, 7, 10, 19])
def test_the_change_point_is_found_with_both_verdicts_in_log2_probes(change):
    fake = Fake(change)
    seen = []
    result = bisect(RELEASES, fake, seen.append)
    assert result.outcome == FOUND and result.exit_code == 0
    assert (result.good.release, result.good.verdict) == (RELEASES[change - 1], "pass")
    assert (result.bad.release, result.bad.verdict) == (RELEASES[change], "fail")
    assert result.bad.lines == (f"heading {RELEASES[change]}", "fail line")
    # two ends, then at most ceil(log2(20)) halvings; each release probed once, each probe reported
    assert len(fake.asked) <= 2 + math.ceil(math.log2(len(RELEASES)))
    assert len(set(fake.asked)) == len(fake.asked)
    assert [p.release for p in seen] == fake.asked == [p.release for p in result.probes]


def test_any_other_verdict_counts_as_the_change_an_error_included():
    result = bisect(RELEASES, Fake(5, after="error"))
    assert (result.outcome, result.good.release, result.bad.release, result.bad.verdict) == (FOUND, "1.4.0", "1.5.0", "error")


def test_a_release_that_does_not_install_is_skipped_for_a_neighbour_never_a_verdict():
    # the first midpoint (index 9) does not install: its neighbour is probed instead
    fake = Fake(12, broken={9})
    result = bisect(RELEASES, fake)
    assert (result.outcome, result.good.release, result.bad.release) == (FOUND, "1.11.0", "1.12.0")
    assert "1.9.0" in fake.asked and "1.10.0" in fake.asked
    assert fake.asked.index("1.10.0") == fake.asked.index("1.9.0") + 1
    assert [p.describe() for p in result.probes if not p.usable] == [
        "1.9.0: does not install: ERROR: no matching distribution"]


def test_unusable_ends_are_stepped_over_to_the_nearest_usable_release():
    fake = Fake(6, broken={0, 1, 19})
    result = bisect(RELEASES, fake)
    assert fake.asked[:4] == ["1.0.0", "1.1.0", "1.2.0", "1.19.0"]
    assert (result.outcome, result.good.release, result.bad.release) == (FOUND, "1.5.0", "1.6.0")


def test_a_change_inside_a_stretch_of_unusable_releases_is_undecidable_naming_the_stretch():
    fake = Fake(6, broken={4, 5, 6, 7})
    result = bisect(RELEASES, fake)
    assert result.outcome == UNDECIDABLE and result.exit_code == 3
    assert (result.good.release, result.bad.release) == ("1.3.0", "1.8.0")
    assert [p.release for p in result.unusable] == ["1.4.0", "1.5.0", "1.6.0", "1.7.0"]
    assert "between 1.3.0 (pass) and 1.8.0 (fail)" in result.message


def test_equal_ends_are_said_so_with_their_own_exit_code():
    fake = Fake(100)  # every release passes
    result = bisect(RELEASES, fake)
    assert result.outcome == EQUAL and result.exit_code == 1
    assert fake.asked == ["1.0.0", "1.19.0"]  # nothing bisected
    assert "equal (1.0.0: pass, 1.19.0: pass)" in result.message


def test_one_release_or_one_usable_release_is_undecidable():
    one = bisect(["3.0.4"], lambda r: Probe(r, verdict="fail"))
    assert one.outcome == UNDECIDABLE and "only one usable release in the range (3.0.4)" in one.message
    lone = bisect(RELEASES[:3], Fake(1, broken={1, 2}, releases=RELEASES[:3]))
    assert lone.outcome == UNDECIDABLE and [p.release for p in lone.unusable] == ["1.1.0", "1.2.0"]
    none = bisect(RELEASES[:2], Fake(1, broken={0, 1}, releases=RELEASES[:2]))
    assert none.outcome == UNDECIDABLE and "none of the 2 releases" in none.message
    assert bisect([], Fake(0)).outcome == UNDECIDABLE


def test_two_neighbouring_releases_are_the_answer_themselves():
    fake = Fake(1, releases=["3.0.4", "3.0.5"])
    result = bisect(["3.0.4", "3.0.5"], fake)
    assert (result.outcome, result.good.release, result.bad.release, fake.asked) == (
        FOUND, "3.0.4", "3.0.5", ["3.0.4", "3.0.5"])


def test_a_probe_must_answer_a_verdict_or_a_problem_and_for_the_release_asked():
    with pytest.raises(ValueError, match="exactly one"):
        Probe("1.0", verdict="pass", problem="does not install")
    with pytest.raises(ValueError, match="exactly one"):
        Probe("1.0")
    with pytest.raises(ValueError, match="probe of 1.0.0 answered for 9.9"):
        bisect(RELEASES, lambda r: Probe("9.9", verdict="pass"))


def test_keep_going_scans_every_release_and_lists_every_change():
    # pass, fail from 5, pass again from 12: two changes, which bisect's assumption rules out
    def probe(release):
        i = RELEASES.index(release)
        if i == 8:
            return Probe(release, problem="does not import: ImportError")
        return Probe(release, verdict="fail" if 5 <= i < 12 else "pass")

    result = scan(RELEASES, probe)
    assert [p.release for p in result.probes] == RELEASES
    assert [(a.release, b.release) for a, b in result.changes] == [("1.4.0", "1.5.0"), ("1.11.0", "1.12.0")]
    assert result.outcome == FOUND and "not one change point: 2 changes" in result.message
    flat = scan(RELEASES, Fake(100))
    assert flat.outcome == EQUAL and flat.changes == []
    # an unusable release between two verdicts is named with the change
    gap = scan(RELEASES[:4], Fake(2, broken={1, 2}, releases=RELEASES[:4]))
    assert (gap.good.release, gap.bad.release, [p.release for p in gap.unusable]) == ("1.0.0", "1.3.0", ["1.1.0", "1.2.0"])


PIP_OUTPUT = """\
WARNING: Location 'file:///somewhere/simple/keras/' is ignored: it is neither a file nor a directory.
keras (3.15.1)
Available versions: 3.15.1, 3.10.0, 3.9.2, 3.1.0rc0, 3.0.5, 3.0.4, 3.0.4.dev1, 3.0.0, 2.15.0, not-a-version
  INSTALLED: 3.15.1
  LATEST:    3.15.1
"""


def test_the_index_listing_is_parsed_and_filtered_by_version_not_by_text():
    available = parse_index_versions(PIP_OUTPUT)
    assert available[:3] == ["3.15.1", "3.10.0", "3.9.2"] and len(available) == 10
    # 3.10.0 sorts after 3.9.2 (text order would put it first); pre- and dev releases only if asked
    assert select_releases(available, "3.0.4", "3.10.0") == ["3.0.4", "3.0.5", "3.9.2", "3.10.0"]
    assert select_releases(available, "3.0", "3.1", pre=True) == ["3.0.0", "3.0.4.dev1", "3.0.4", "3.0.5", "3.1.0rc0"]
    assert select_releases(available, "4.0", "5.0") == []


@pytest.mark.parametrize("start, stop, message", [
    ("3.1", "3.0", "bad version range: --from 3.1 is after --to 3.0"),
    ("three", "3.0", "--from: 'three' is not a version"),
    ("3.0", "latest", "--to: 'latest' is not a version"),
])
def test_a_bad_range_is_refused_naming_it(start, stop, message):
    with pytest.raises(ValueError, match=message):
        select_releases(["3.0.0"], start, stop)


def test_an_index_answer_without_a_listing_is_an_error_with_its_last_line():
    with pytest.raises(ValueError, match="listed no releases: ERROR: No matching distribution found for nosuch"):
        parse_index_versions("WARNING: something\nERROR: No matching distribution found for nosuch\n")
