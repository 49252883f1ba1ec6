"""The history label (``bnconform/history.py``, ``tox -m history``): tox.ini's environments agree
with the one list of bugs (read through ``tox config``, as tox resolves them), the label stays out of
the default matrix and CI, and the checker fails a buggy release that passes, a fix release that
fails, and a release that errs or left no results (records planted below)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bnconform import history as H
from bnconform.adapters.registry import TARGETS

from .test_registry import REPO, tox_installed  # noqa: F401 - the fixture

KEYS = ("deps", "set_env", "commands", "depends", "base_python")


def read_config(ini: Path, envs) -> dict[str, dict]:
    proc = subprocess.run([sys.executable, "-m", "tox", "-c", str(ini), "config", "--format", "json",
                           "-e", ",".join(envs), "-k", *KEYS],
                          cwd=ini.parent, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)["env"]


def env_problems(config: dict[str, dict], bugs=H.BUGS) -> list[str]:
    """How tox's resolved history environments disagree with ``bugs``: pins, target, backend and
    the ``-k`` selection of each environment; history-check depending on every one of them."""
    problems = []
    by_name = {info.name: info for info in TARGETS}
    for env, release in H.envs().items():
        if env not in config:
            problems.append(f"{env}: not in tox.ini")
            continue
        c = config[env]
        deps = sorted(str(d).strip() for d in c["deps"])
        if deps != sorted(release.pins):
            problems.append(f"{env}: deps {deps}, the history list pins {sorted(release.pins)}")
        if c["set_env"].get("BNCONFORM_TARGETS") != release.target:
            problems.append(f"{env}: BNCONFORM_TARGETS={c['set_env'].get('BNCONFORM_TARGETS')}, not {release.target}")
        if by_name[release.target].backend != release.backend or c["set_env"].get("KERAS_BACKEND") != release.backend:
            problems.append(f"{env}: KERAS_BACKEND={c['set_env'].get('KERAS_BACKEND')}, not {release.backend}")
        words = shlex.split(" ".join(c["commands"]) if isinstance(c["commands"], list) else c["commands"])
        selected = words[words.index("-k") + 1] if "-k" in words else None
        if selected != H.selection(env, bugs):
            problems.append(f"{env}: -k {selected!r}, the history list selects {H.selection(env, bugs)!r}")
        problems += disabling_problems(env, words, bugs)
    depends = config.get("history-check", {}).get("depends", [])
    depends = depends if isinstance(depends, list) else [d.strip() for d in str(depends).split(",")]
    missing = [env for env in H.envs() if env not in depends]
    if missing:
        problems.append(f"history-check does not depend on {missing}")
    return problems


def disabling_problems(env: str, words: list[str], bugs=H.BUGS) -> list[str]:
    """How ``env``'s command disagrees with the entries it must run without (``H.disabled``): a
    ``--known-deviations`` file that disables exactly those, or no such option where there are none."""
    wanted = H.disabled(env, bugs)
    given = words[words.index("--known-deviations") + 1] if "--known-deviations" in words else None
    if not wanted:
        return [] if given is None else [f"{env}: --known-deviations {given}, but it disables no entry"]
    expected = Path(H.disabling_file(env))
    if given is None or Path(given).parts[-len(expected.parts):] != expected.parts:
        return [f"{env}: --known-deviations {given}, not {expected} (it must run without {wanted})"]
    doc = tomllib.loads((REPO / expected).read_text(encoding="utf-8"))
    if set(doc) != {"disable"} or sorted(doc["disable"]) != sorted(wanted):
        return [f"{env}: {H.disabling_file(env)} holds {doc}, not disable = {list(wanted)}"]
    return []


@pytest.fixture(scope="module")
def history_config(tox_installed):  # noqa: F811
    return read_config(REPO / "tox.ini", [*H.envs(), "history-check"])


def test_the_history_environments_agree_with_the_history_list(history_config):
    assert env_problems(history_config) == []


def test_a_tox_file_with_another_pin_or_selection_fails_the_check(tox_installed, tmp_path):  # noqa: F811
    text = (REPO / "tox.ini").read_text(encoding="utf-8")
    first = next(iter(H.envs().values()))
    pin = first.pins[0]
    changed = text.replace(f"    {pin}\n", f"    {pin}.post1\n", 1).replace(
        f'-k "{H.selection(first.env)}"', '-k "bn_forward"', 1)
    ini = tmp_path / "tox.ini"
    ini.write_text(changed, encoding="utf-8")
    problems = env_problems(read_config(ini, [*H.envs(), "history-check"]))
    assert [p.split(":")[0] for p in problems] == [first.env, first.env], problems
    assert "deps" in problems[0] and "-k 'bn_forward'" in problems[1]


def test_the_history_label_is_not_in_the_default_matrix_nor_in_ci(tox_installed):  # noqa: F811
    proc = subprocess.run([sys.executable, "-m", "tox", "-c", str(REPO / "tox.ini"), "-l"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    default = proc.stdout.split()
    assert default and not [e for e in default if e.startswith("history")]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "history" not in ci
    label = subprocess.run([sys.executable, "-m", "tox", "-c", str(REPO / "tox.ini"), "config", "-m", "history",
                            "-k", "env_name"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert label.returncode == 0, label.stderr
    named = [line.split("=", 1)[1].strip() for line in label.stdout.splitlines() if line.startswith("env_name")]
    assert named == [*H.envs(), "history-check"]  # history-check last


# -- the checker --------------------------------------------------------------------------------


def _record(bug: H.Bug, release: H.Release, verdict: str, dtype: str = "float32", origin: str | None = None) -> dict:
    return {"id": f"x[{release.target}-{bug.property}-{dtype}]", "target": release.target,
            "property": bug.property, "dtype": dtype, "verdict": verdict,
            "kind": bug.kinds[0] if bug.kinds else None, "error_origin": origin}


def _write(results: Path, verdicts: dict[str, list[dict]]) -> None:
    for env, records in verdicts.items():
        (results / env).mkdir(parents=True, exist_ok=True)
        (results / env / "results.json").write_text(json.dumps({"records": records}), encoding="utf-8")


def _expected(bugs=H.BUGS) -> dict[str, list[dict]]:
    """Results as the history list expects them: each buggy release fails, each fix passes."""
    out: dict[str, list[dict]] = {}
    for bug in bugs:
        out.setdefault(bug.buggy.env, []).extend([_record(bug, bug.buggy, "fail"), _record(bug, bug.buggy, "pass", "float16")])
        out.setdefault(bug.fixed.env, []).extend([_record(bug, bug.fixed, "pass"),
                                                  _record(bug, bug.fixed, "known-deviation", "float16")])
    return out


#: the row the planted results below change: a pooling bug (its records carry a kind) that crashes;
#: its releases' environments also judge another row (keras-19848), which the changes must not touch
POOLING = next(b for b in H.BUGS if b.kinds and b.crash)


def _others(results: list[dict], bug: H.Bug) -> list[dict]:
    """The records of an environment that judge other rows than ``bug``."""
    return [r for r in results if r["property"] != bug.property]


def test_results_as_expected_pass_the_checker(tmp_path):
    results = _expected()
    bug = POOLING  # a framework crash beside the buggy release's failure does not hide it
    results[bug.buggy.env].append(_record(bug, bug.buggy, "error", "float16", origin="framework"))
    _write(tmp_path, results)
    assert H.problems(tmp_path) == []
    assert H.main([str(tmp_path)]) == 0


@pytest.mark.parametrize("planted", ["buggy passes", "buggy only a known deviation", "fix fails", "fix errs",
                                     "fix crashes", "buggy with the suite's own error", "missing",
                                     "other property only", "other dtype only", "other kind only"])
def test_the_checker_fails_each_way_the_history_is_not_reproduced(tmp_path, planted):
    bug = POOLING
    results = _expected()
    if planted == "buggy passes":
        results[bug.buggy.env] = [r if r["property"] != bug.property else {**r, "verdict": "pass"}
                                  for r in results[bug.buggy.env]]
    elif planted == "buggy only a known deviation":
        results[bug.buggy.env] = [r if r["property"] != bug.property or r["verdict"] != "fail"
                                  else {**r, "verdict": "known-deviation"} for r in results[bug.buggy.env]]
    elif planted == "fix fails":
        results[bug.fixed.env].append(_record(bug, bug.fixed, "fail", "bfloat16"))
    elif planted == "fix errs":
        results[bug.fixed.env].append(_record(bug, bug.fixed, "error", "bfloat16", origin="suite"))
    elif planted == "fix crashes":
        results[bug.fixed.env].append(_record(bug, bug.fixed, "error", "bfloat16", origin="framework"))
    elif planted == "buggy with the suite's own error":
        results[bug.buggy.env].append(_record(bug, bug.buggy, "error", "bfloat16", origin="suite"))
    elif planted == "other kind only":  # a failure of another pooling kind is not this bug's
        assert "global_avg" not in bug.kinds
        results[bug.buggy.env] = [{**r, "kind": "global_avg"} if r["verdict"] == "fail" and r["property"] == bug.property
                                  else r for r in results[bug.buggy.env]]
    elif planted == "missing":
        del results[bug.fixed.env]
    elif planted == "other property only":
        results[bug.buggy.env] = [{**r, "property": "conv2d"} if r["property"] == bug.property else r
                                  for r in results[bug.buggy.env]]
    elif planted == "other dtype only":  # a failure outside the bug's dtypes does not count
        results[bug.buggy.env] = [{**r, "dtype": "int8"} if r["verdict"] == "fail" and r["property"] == bug.property
                                  else r for r in results[bug.buggy.env]]
    _write(tmp_path, results)
    problems = H.problems(tmp_path)
    if planted == "missing":  # every row judged in that environment says so
        judged = [b for b in H.BUGS if bug.fixed.env in (b.buggy.env, b.fixed.env)]
        assert len(judged) == 2 and len(problems) == 2, problems
        assert all(p.startswith(bug.fixed.env) for p in problems), problems
    else:
        assert len(problems) == 1 and problems[0].startswith(bug.id), problems
    assert H.main([str(tmp_path)]) == 1


def test_the_history_list_is_well_formed():
    from bnconform.properties import PROPERTIES

    names = set(PROPERTIES)
    targets = {info.name: info for info in TARGETS}
    for bug in H.BUGS:
        assert bug.property in names and bug.link.startswith("https://github.com/"), bug.id
        for release in (bug.buggy, bug.fixed):
            assert release.target in targets and f"{release.package}=={release.version}" in release.pins
        assert bug.buggy.version != bug.fixed.version and bug.buggy.env != bug.fixed.env
    assert len(H.envs()) == len({r.env for b in H.BUGS for r in (b.buggy, b.fixed)})


def test_the_readme_table_lists_every_row_of_the_history_list():
    """Each row of ``table()`` (release, backend, upstream link, property, expected verdict) is a row
    of the README's table, whose last column holds the measured verdicts; and the TODO rows are named."""
    readme = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    rows = H.table()[2:]
    assert len(rows) == 2 * len(H.BUGS)
    for row in rows:
        fixed_part = row.rsplit("|", 2)[0]  # without the measured column
        assert any(line.startswith(fixed_part + "|") for line in readme), fixed_part
    for what, _ in H.TODO:
        assert any(what.split(" (")[0] in line and "TODO" in line for line in readme), what


def _crash_record(bug: H.Bug, release: H.Release, message: str) -> dict:
    return {**_record(bug, release, "error", origin="framework"), "message": f"RuntimeError: {message}"}


def test_a_crashing_bug_is_caught_by_its_own_crash_and_not_by_another(tmp_path):
    bug = POOLING
    results = _expected()
    own = "pad must be non-negative, but got pad: -1"
    assert re.search(bug.crash, own)
    results[bug.buggy.env] = _others(results[bug.buggy.env], bug) + [_crash_record(bug, bug.buggy, own)]
    _write(tmp_path, results)
    assert H.problems(tmp_path) == []
    results[bug.buggy.env] = _others(results[bug.buggy.env], bug) + [_crash_record(bug, bug.buggy, "out of memory")]
    _write(tmp_path, results)
    problems = H.problems(tmp_path)
    assert len(problems) == 1 and problems[0].startswith(bug.id) and "not caught" in problems[0], problems


def test_the_entries_of_a_bug_are_disabled_on_its_buggy_release_only():
    """A bug that is a shipped known deviation is judged on its buggy release without its entries
    (else they would explain it away, and "caught" would mean "known"); they are real shipped entries
    whose range covers the buggy release, and no other environment runs without them."""
    from bnconform.reports import known
    from bnconform.reports.deviations import load_deviations

    shipped = {entry.id: entry for entry in load_deviations(known.SHIPPED)}
    modelled = [bug for bug in H.BUGS if bug.entries]
    assert modelled, "no row is a known deviation: this test checks nothing"
    for bug in modelled:
        assert H.disabled(bug.buggy.env) == bug.entries and H.disabled(bug.fixed.env) == ()
        for ident in bug.entries:
            assert ident in shipped, ident
            assert shipped[ident].version_matches(bug.buggy.version), (ident, shipped[ident].versions)
    others = [env for env in H.envs() if env not in {b.buggy.env for b in modelled}]
    assert others and all(H.disabled(env) == () for env in others)


def test_a_tox_command_without_its_disabling_file_fails_the_check(tox_installed, tmp_path):  # noqa: F811
    env = next(b.buggy.env for b in H.BUGS if b.entries)
    text = (REPO / "tox.ini").read_text(encoding="utf-8")
    option = f"--known-deviations {{toxinidir}}/{H.disabling_file(env)}"
    assert text.count(option) == 1
    ini = tmp_path / "tox.ini"
    ini.write_text(text.replace(option, ""), encoding="utf-8")
    problems = env_problems(read_config(ini, [*H.envs(), "history-check"]))
    assert len(problems) == 1 and problems[0].startswith(f"{env}: --known-deviations None"), problems
