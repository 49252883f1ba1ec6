"""``bnconform bisect``: usage errors name what is wrong before anything is installed (exit 2), and
the command prints each probe, the change point with both releases' verdict lines, and one exit
code per outcome. The index, the installs and the replays are replaced by fakes here (no network);
``tests/cli/test_bisect_history.py`` bisects real keras releases (the ``network`` marker)."""

from __future__ import annotations

import io
import json

import pytest

from bnconform.app import bisect_envs
from bnconform.app.cli import main
from bnconform.app.bisect_search import Probe

CASE = ('{"op":"batch_norm","shape":[16,4],"axis":-1,"dtype":"float32","eps":0.001,"momentum":0.99,"steps":1,'
        '"x":{"seed":0,"dist":"normal","loc":0.0,"scale":1.0,"constant_feature":null,"specials":[]},'
        '"params_seed":0,"random_params":true}')
POOL = '{"op":"pool2d","kind":"max","x_shape":[1,1,2,2],"window":[1,1],"dtype":"float32"}'
RANGE = ["--package", "keras", "--from", "3.0.4", "--to", "3.0.5"]


@pytest.fixture
def offline(monkeypatch):
    """No index, install or replay may run: each raises if called (a usage error must come first)."""
    def refuse(*a, **k):
        raise AssertionError("a usage error must be found before the index, an install or a replay")

    for name in ("list_releases", "build", "replay"):
        monkeypatch.setattr(bisect_envs, name, refuse)


@pytest.mark.parametrize("argv, message", [
    (["keras-nope", "bn_backward", "train", CASE, *RANGE], "target: unknown adapter 'keras-nope'; known: "),
    (["keras-torch", "bn_nope", "train", CASE, *RANGE], "property: expected one of"),
    (["keras-torch", "bn_backward", "train", "{not json", *RANGE], "case: malformed JSON"),
    (["keras-torch", "bn_backward", "train", "no/such/case.json", *RANGE],
     "case: 'no/such/case.json' is neither a case's JSON nor a file"),
    (["keras-torch", "bn_backward", "train", POOL, *RANGE], "case: a pool2d case, but property bn_backward checks batch_norm"),
    (["keras-torch", "bn_backward", "train", '{"op":"batch_norm","colour":"red"}', *RANGE], "unknown fields for batch_norm"),
    (["keras-torch", "bn_backward", "train", CASE, "--from", "3.1", "--to", "3.0"], "bad version range: --from 3.1 is after --to 3.0"),
    (["keras-torch", "bn_backward", "train", CASE, "--from", "3.x", "--to", "3.0"], "--from: '3.x' is not a version"),
    (["keras-torch", "bn_backward", "train", CASE, *RANGE, "--with", "torch=2"], "--with: 'torch=2' is not a requirement"),
    (["keras-torch", "bn_backward", "train", CASE, *RANGE, "--with", "keras==3.0.2"], "--with: keras is the package bisected"),
    (["keras-torch", "bn_backward", "train", CASE, "--from", "3.0.4"], "the following arguments are required: --to"),
])
def test_a_usage_error_names_what_is_wrong_and_exits_2_before_installing_anything(offline, argv, message, capsys):
    assert main(["bisect", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err


class Releases:
    """A fake index, installer and replayer: ``verdicts`` by release (None: does not install)."""

    def __init__(self, monkeypatch, verdicts: dict[str, str | None]):
        self.verdicts, self.replayed = verdicts, []
        monkeypatch.setattr(bisect_envs, "list_releases", lambda package: ["9.9.9rc1", *reversed(verdicts), "0.1"])
        monkeypatch.setattr(bisect_envs, "build", self.build)
        monkeypatch.setattr(bisect_envs, "replay", self.replay)

    def build(self, plan, cache, log=print, installer="pip"):
        assert plan.requirements[0] == f"keras=={plan.version}" and "torch" in plan.requirements
        if self.verdicts[plan.version] is None:
            return cache / plan.version, "does not install: ERROR: No matching distribution found"
        return cache / plan.version, None

    def replay(self, env, release, args, timeout=None):
        self.replayed.append((release, args))
        verdict = self.verdicts[release]
        return Probe(release, verdict=verdict, lines=(f"bn_backward | keras-torch (keras {release})", f"'dx': {verdict}"))


def test_the_change_point_is_printed_with_both_verdicts_and_exit_0(monkeypatch, tmp_path, capsys):
    fake = Releases(monkeypatch, {"3.0.0": "fail", "3.0.1": "fail", "3.0.2": None, "3.0.4": "fail", "3.0.5": "pass",
                                  "3.1.0": "pass"})
    code = main(["bisect", "keras-torch", "bn_backward", "train", CASE, "--package", "keras", "--from", "3.0.0",
                 "--to", "3.1.0", "--cache", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "keras 3.0.0 .. 3.1.0 (6 releases)" in out  # not 0.1, not the pre-release
    # the first midpoint, 3.0.2, does not install: named, and its neighbour probed instead
    assert "  keras 3.0.2: does not install: ERROR: No matching distribution found\n  keras 3.0.4: fail" in out
    assert "first release whose verdict differs: 3.0.5 (pass); the release before it: 3.0.4 (fail)" in out
    assert "--- keras 3.0.4: fail\n    bn_backward | keras-torch (keras 3.0.4)\n    'dx': fail" in out
    assert "--- keras 3.0.5: pass\n    bn_backward | keras-torch (keras 3.0.5)\n    'dx': pass" in out
    # the replay gets the arguments as given, the case as JSON text
    release, args = fake.replayed[0]
    assert args[:3] == ["keras-torch", "bn_backward", "train"] and json.loads(args[3])["shape"] == [16, 4]


def test_equal_ends_exit_1_and_nothing_usable_exits_3(monkeypatch, tmp_path, capsys):
    Releases(monkeypatch, {"3.0.4": "fail", "3.0.5": "fail"})
    assert main(["bisect", "keras-torch", "bn_backward", "train", CASE, *RANGE, "--cache", str(tmp_path)]) == 1
    assert "the verdicts at the two ends are equal (3.0.4: fail, 3.0.5: fail)" in capsys.readouterr().out
    Releases(monkeypatch, {"3.0.4": None, "3.0.5": "fail"})
    assert main(["bisect", "keras-torch", "bn_backward", "train", CASE, *RANGE, "--cache", str(tmp_path)]) == 3
    assert "only one usable release in the range (3.0.5)" in capsys.readouterr().out


def test_the_case_comes_from_a_file_or_standard_input(monkeypatch, tmp_path, capsys):
    fake = Releases(monkeypatch, {"3.0.4": "fail", "3.0.5": "pass"})
    path = tmp_path / "case.json"
    path.write_text(CASE + "\n")
    assert main(["bisect", "keras-torch", "bn_backward", "train", str(path), *RANGE, "--cache", str(tmp_path)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(CASE))
    assert main(["bisect", "keras-torch", "bn_backward", "train", "-", *RANGE, "--cache", str(tmp_path)]) == 0
    assert {args[3] for _, args in fake.replayed} == {CASE}


def test_a_replay_that_refuses_its_arguments_stops_the_bisection_as_a_usage_error(monkeypatch, tmp_path, capsys):
    Releases(monkeypatch, {"3.0.4": "fail", "3.0.5": "pass"})

    def refuse(env, release, args, timeout=None):
        raise bisect_envs.UsageError(f"the replay in {release} refused its arguments: mode: expected train or inference")

    monkeypatch.setattr(bisect_envs, "replay", refuse)
    assert main(["bisect", "keras-torch", "bn_backward", "sideways", CASE, *RANGE, "--cache", str(tmp_path)]) == 2
    assert "the replay in 3.0.4 refused its arguments: mode:" in capsys.readouterr().err
