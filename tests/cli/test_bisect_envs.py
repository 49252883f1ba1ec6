"""The environments of ``bnconform bisect`` without installing anything: what a release's environment
is asked to hold (the release, the target's other frameworks at this environment's versions), and
how a replay's JSON becomes a probe (a real replay, run by this interpreter standing in for an
environment's, and fakes for the answers a broken release gives)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shlex
import stat
import sys
from pathlib import Path

import pytest

from bnconform.app import bisect_envs


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_the_release_is_required_and_everything_else_keeps_this_environments_version():
    numpy = _version("numpy")
    plan = bisect_envs.plan("keras", "3.0.4", ["keras", "numpy"], [])
    assert plan.requirements[0] == "keras==3.0.4" and "numpy" in plan.requirements
    assert f"numpy=={numpy}" in plan.constraints  # pip install -c: numpy stays at this environment's version
    names = {c.split("==")[0].lower() for c in plan.constraints}
    assert "keras" not in names and "bnconform" not in names
    # bnconform's own requirements go in (its replay imports them); bnconform itself does not
    assert any(r.startswith("hypothesis") for r in plan.requirements)


def test_with_replaces_a_pin_and_changes_the_environment_but_not_across_releases(tmp_path):
    plain = bisect_envs.plan("keras", "3.0.4", ["keras", "numpy"], [])
    pinned = bisect_envs.plan("keras", "3.0.4", ["keras", "numpy"], ["NumPy<2"])
    assert "NumPy<2" in pinned.requirements and "numpy" not in pinned.requirements
    assert not any(c.lower().startswith("numpy==") for c in pinned.constraints)
    assert pinned.key() != plain.key()
    assert bisect_envs.plan("keras", "3.0.5", ["keras", "numpy"], []).key() == plain.key()
    assert plain.directory(tmp_path).name == f"keras-3.0.4-{plain.key()}"
    with pytest.raises(ValueError, match="--with: 'numpy=' is not a requirement"):
        bisect_envs.plan("keras", "3.0.4", ["keras"], ["numpy="])


def test_the_installers_last_error_line_is_the_reason_given():
    text = "Collecting keras==9\nERROR: Could not find a version that satisfies keras==9\nERROR: No matching distribution found for keras==9\n"
    assert bisect_envs._last_line(text) == "ERROR: No matching distribution found for keras==9"
    assert bisect_envs._last_line("one\ntwo\n\n") == "two"
    # uv, as captured (not a terminal) and on a terminal: the error with its cause, not the hint after it
    uv = ("error: No solution found when resolving dependencies\n  cause: Because there is no version of "
          "torch==0.0.1 and you require torch==0.0.1, we can conclude that your requirements are unsatisfiable.")
    assert bisect_envs._last_line(uv) == ("error: No solution found when resolving dependencies: Because there is no "
                                          "version of torch==0.0.1 and you require torch==0.0.1, we can conclude "
                                          "that your requirements are unsatisfiable.")
    tty = "  × No solution found when resolving dependencies:\n  ╰─▶ Because keras==9 was not found.\n\n      hint: an index"
    assert bisect_envs._last_line(tty) == "× No solution found when resolving dependencies: Because keras==9 was not found."


def test_uv_is_given_pips_indexes_and_pips_best_match_over_them(tmp_path):
    config = ("global.cert='/etc/ssl/certs/ca.crt'\nglobal.extra-index-url='file:///a/simple file:///b/simple'\n"
              "global.find-links='/opt/wheels'\n:env:.find-links='/opt/wheels'\n:env:.index-url='https://mirror/simple'")
    fake = _fake_env(tmp_path / "env", "cat <<'EOF'\n" + config + "\nEOF")
    assert bisect_envs.pip_index_options(str(fake / "bin" / "python")) == [
        "--extra-index-url", "file:///a/simple", "--extra-index-url", "file:///b/simple", "--find-links", "/opt/wheels",
        "--index-url", "https://mirror/simple", "--index-strategy", "unsafe-best-match"]
    only_links = _fake_env(tmp_path / "env2", "echo \"global.find-links='/opt/wheels'\"")
    assert bisect_envs.pip_index_options(str(only_links / "bin" / "python")) == ["--find-links", "/opt/wheels"]


def test_the_installer_is_uv_where_it_is_on_path_unless_pip_is_asked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert bisect_envs.resolve_installer("auto") == "pip"
    with pytest.raises(ValueError, match="--installer uv: no uv on PATH"):
        bisect_envs.resolve_installer("uv")
    uv = _fake_env(tmp_path / "x", "exit 0") / "bin" / "python"
    (tmp_path / "uv").symlink_to(uv)
    assert bisect_envs.resolve_installer("auto") == str(tmp_path / "uv")
    assert bisect_envs.resolve_installer("pip") == "pip"
    with pytest.raises(ValueError, match="--installer: expected auto, pip or uv, got 'conda'"):
        bisect_envs.resolve_installer("conda")


def _fake_env(root: Path, script: str) -> Path:
    """An environment whose ``bin/python`` runs ``script`` (a shell script's body)."""
    python = root / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n" + script + "\n")
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return root


def test_a_broken_release_or_a_replay_without_an_answer_is_unusable_and_a_refusal_is_a_usage_error(tmp_path):
    broken = _fake_env(tmp_path / "a", "echo '" + json.dumps(
        {"verdict": "broken", "message": "keras-torch: installed but broken, fails to import: ImportError: x"}) + "'; exit 1")
    probe = bisect_envs.replay(broken, "3.0.0", ["keras-torch", "bn_backward", "train", "{}"])
    assert not probe.usable and probe.problem == "does not import: keras-torch: installed but broken, fails to import: ImportError: x"
    crashed = _fake_env(tmp_path / "b", "echo 'Segmentation fault' >&2; exit 139")
    probe = bisect_envs.replay(crashed, "3.0.1", [])
    assert not probe.usable and probe.problem == "does not import: the replay exited 139: Segmentation fault"
    refused = _fake_env(tmp_path / "c", "echo '" + json.dumps({"verdict": "usage", "message": "mode: bad"}) + "'; exit 2")
    with pytest.raises(bisect_envs.UsageError, match="the replay in 3.0.2 refused its arguments: mode: bad"):
        bisect_envs.replay(refused, "3.0.2", [])


CEIL = ('{"op":"pool2d","kind":"lp","x_shape":[1,1,5,1],"data_format":"channels_first","window":[3,1],'
        '"stride":[3,1],"padding":"valid","ceil_mode":true,"p":2.0,"dtype":"float32",'
        '"x":{"seed":1,"dist":"uniform","loc":0.0,"scale":1.0,"constant_feature":null,"specials":[]}}')


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch (a real replay on the torch target)")
def test_a_real_replay_in_an_environment_gives_its_verdict_and_lines(tmp_path):
    # this interpreter stands in for an environment's python: the replay runs as a subprocess there,
    # with this bnconform on its path, and its --json answer becomes the probe
    here = _fake_env(tmp_path / "env", f"exec {shlex.quote(sys.executable)} \"$@\"")
    failing = bisect_envs.replay(here, "2.13.0", ["torch", "pool2d_lp_ceil_mode", "-", CEIL])
    assert failing.verdict == "fail"
    assert failing.lines[0].startswith("pool2d_lp_ceil_mode | torch (torch ")
    assert any("Mismatched elements in 'y'" in line for line in failing.lines)
    passing = bisect_envs.replay(here, "2.13.0", ["torch", "pool2d", "-", CEIL.replace('"ceil_mode":true', '"ceil_mode":false')])
    assert passing.verdict == "pass" and "all 1 elements within tolerance" in passing.lines[1]
    with pytest.raises(bisect_envs.UsageError, match="property: expected one of"):
        bisect_envs.replay(here, "2.13.0", ["torch", "no_such_property", "-", CEIL])


def test_an_environment_is_built_once_and_a_failed_install_leaves_nothing_behind(tmp_path, monkeypatch):
    # a fake uv: `venv` makes the directory, `pip install` fails while $FAIL is set; each call logged
    log = tmp_path / "calls.log"
    uv = _fake_env(tmp_path / "uvbin", f'echo "$1" >> {log}\ncase "$1" in venv) mkdir -p "$5";; pip) if [ -n "$FAIL" ]; '
                                        'then echo "error: No solution found" >&2; echo "  cause: no keras==9" >&2; exit 1; fi;; esac')
    installer = str(uv / "bin" / "python")
    plan = bisect_envs.plan("keras", "9", ["keras"], [])
    cache = tmp_path / "cache"
    monkeypatch.setenv("FAIL", "1")
    env, problem = bisect_envs.build(plan, cache, log=lambda line: None, installer=installer)
    assert problem == "does not install: error: No solution found: no keras==9"
    assert not env.exists() and log.read_text().split() == ["venv", "pip"]
    monkeypatch.delenv("FAIL")
    env, problem = bisect_envs.build(plan, cache, log=lambda line: None, installer=installer)
    assert problem is None and (env / bisect_envs.MARKER).is_file()
    recorded = json.loads((env / bisect_envs.MARKER).read_text())
    assert recorded["requirements"][0] == "keras==9" and recorded["constraints"] == list(plan.constraints)
    assert (cache / f"{env.name}.constraints.txt").read_text().split() == list(plan.constraints)
    # cached: built once, not again
    assert bisect_envs.build(plan, cache, log=lambda line: None, installer=installer) == (env, None)
    assert log.read_text().split() == ["venv", "pip", "venv", "pip"]


def test_an_error_verdict_names_its_exception_and_the_suites_own_error_is_no_verdict(tmp_path):
    raised = ("ERROR: the framework raised builtins.AttributeError: module 'keras' has no attribute 'device'\n"
              "case: {}\nverdict: error (the conformance test of this case records an error, not a failed property)")
    record = {"verdict": "error", "exit": 1, "lines": ["bn_backward | keras-torch (keras 3.0.0)", raised]}
    framework = _fake_env(tmp_path / "a", "cat <<'EOF'\n" + json.dumps(record) + "\nEOF")
    probe = bisect_envs.replay(framework, "3.0.0", [])
    assert probe.verdict == "error"
    assert probe.describe() == "3.0.0: error (AttributeError: module 'keras' has no attribute 'device')"
    # a replay that says the suite raised it (its "origin"): the release is not judged, but named
    suite = _fake_env(tmp_path / "b", "cat <<'EOF'\n" + json.dumps({**record, "origin": "suite"}) + "\nEOF")
    probe = bisect_envs.replay(suite, "3.0.0", [])
    assert not probe.usable
    assert probe.problem == "the suite cannot run on this release: AttributeError: module 'keras' has no attribute 'device'"
