"""Known crashes: an exception the framework raises during a conformance example is explained by a
covering entry only when the entry's crash model predicts that crash for THIS case, of that type and
message (``bnconform.explanation.decide`` on a ``Crash``; ``run_example`` in
``bnconform/conformance/conftest.py``). Planted with a fake adapter that raises: on a case the model
does not predict, or another exception, or a version outside the entry's range, the crash stays an
error, naming the candidates and why each did not explain it. Then the real runs: ``bnconform run``
on keras-jax and keras-torch with ``-k bn_masked`` passes the gate with the one-feature crash
counted as the known deviation, and ``bnconform replay`` of such a case prints the same decision."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnconform import cases as C
from bnconform.conformance.conftest import run_example
from bnconform.reports import known
from bnconform.reports.deviations import candidates

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "keras-jax-masked-one-feature-crash"


def case(shape):
    return C.BNCase(shape=shape, axis=-1, dtype="float32", eps=1e-3, momentum=0.9, steps=1,
                    x=C.Values(seed=3, loc=0.5, scale=1.5), params_seed=4, mask=shape[:-1])


class Raising:
    """A fake keras-jax adapter whose masked batch norm raises ``exc`` on every case."""

    name = "keras-jax"

    def __init__(self, exc):
        self.exc = exc

    def unsupported(self, case):
        return None

    def bn_masked(self, case, inputs, *, training):
        raise self.exc


class Observe:
    """The ``observe`` calls run_example makes, with the shipped entries covering keras-jax ``version``."""

    def __init__(self, version="3.15.1", mode="train"):
        identity = {"target": "keras-jax", "framework": "keras", "version": version, "property": "bn_masked",
                    "op": "batch_norm", "mode": mode, "dtype": "float32", "device": {"platform": "cpu"}}
        self.candidates = candidates(known.load(None, directory=None).entries, identity)  # the shipped file
        self.crashes, self.failing = [], []

    def known_deviations(self):
        return list(self.candidates)

    def explained_crash(self, entry_id, line):
        self.crashes.append((entry_id, line))

    def failing_case(self, case_json, replay):
        self.failing.append(replay)


def test_the_predicted_crash_counts_as_the_known_deviation_and_the_property_goes_on():
    observe = Observe()
    run_example(observe, Raising(IndexError("tuple index out of range")), "bn_masked", case((5, 1)), "train")
    assert observe.crashes == [(ENTRY, "IndexError: tuple index out of range")] and observe.failing == []


@pytest.mark.parametrize("shape, exc, why", [
    ((5, 2), IndexError("tuple index out of range"), "predicts no crash for this case (C = 2"),  # planted on C = 2
    ((5, 1), ValueError("tuple index out of range"), "predicts IndexError"),  # another type on C = 1
    ((5, 1), IndexError("list index out of range"), "with a message matching"),  # another message on C = 1
])
def test_any_other_crash_stays_an_error_naming_the_candidates(shape, exc, why):
    observe = Observe()
    with pytest.raises(type(exc)) as raised:
        run_example(observe, Raising(exc), "bn_masked", case(shape), "train")
    assert raised.value is exc and observe.crashes == [] and len(observe.failing) == 1
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert "known deviations that match this test but not this crash (an error)" in notes
    assert f"{ENTRY} = masked_one_feature_crash(any_axis_spelling=true): does not explain this crash" in notes
    assert why in notes


def test_the_crash_outside_the_entry_s_range_stays_an_error():
    # 3.0.1 accepts a mask and ignores it: the entry's range starts with masking, in 3.0.2
    observe = Observe(version="3.0.1")
    assert ENTRY not in {d.id for d in observe.candidates}
    with pytest.raises(IndexError):
        run_example(observe, Raising(IndexError("tuple index out of range")), "bn_masked", case((5, 1)), "train")
    assert observe.crashes == [] and len(observe.failing) == 1


def test_the_crash_in_a_mode_the_entry_does_not_cover_stays_an_error():
    observe = Observe(mode="inference")
    with pytest.raises(IndexError):
        run_example(observe, Raising(IndexError("tuple index out of range")), "bn_masked", case((5, 1)), "inference")
    assert observe.crashes == []


def _keras(backend: str) -> None:
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec(backend) is None:
        pytest.skip(f"keras with the {backend} backend is not installed")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_replay_of_the_crash_prints_the_run_s_decision(backend):
    _keras(backend)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = {}
    for shape in ((5, 1), (5, 2)):
        proc = subprocess.run([sys.executable, "-m", "bnconform", "replay", f"keras-{backend}", "bn_masked", "train",
                               case(shape).dumps()], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
        out[shape] = (proc.returncode, proc.stdout)
    code, text = out[(5, 1)]
    assert code == 1 and "ERROR: the framework raised builtins.IndexError" in text
    assert (f"known deviation keras-{backend}-masked-one-feature-crash = masked_one_feature_crash(any_axis_spelling=true): "
            "explains this crash: predicts IndexError") in text
    assert f"verdict: error, a known crash (the conformance test counts this example as the known deviation keras-{backend}" in text
    assert out[(5, 2)][0] in (0, 1) and "raised" not in out[(5, 2)][1]  # C = 2 returns outputs


def test_replay_json_says_the_framework_raised_the_crash():
    """``bnconform bisect`` takes a release where the suite itself raised for no verdict: the replay's
    JSON record says who raised (``error_origin``), here Keras on jax."""
    _keras("jax")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "bnconform", "replay", "keras-jax", "bn_masked", "train",
                           case((5, 1)).dumps(), "--json"], env=env, capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    record = json.loads(proc.stdout)
    assert (proc.returncode, record["verdict"], record["origin"]) == (1, "error", "framework"), proc.stdout[-2000:]
    assert record["raised_in"].startswith(("keras", "jax")), record["raised_in"]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_main_job_passes_the_gate_with_the_crash_as_known_deviation(backend, tmp_path, monkeypatch, capsys):
    _keras(backend)
    from bnconform.app import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI", "true")
    target = f"keras-{backend}"
    code = cli.main(["run", "--target", target, "--jobs", "1", "--no-progress", "--", "-k", "bn_masked"])
    out = capsys.readouterr().out
    records = json.loads((tmp_path / "results" / target / "results.json").read_text())["records"]
    assert code == 0 and "bnconform gate: PASS" in out, out
    assert "error" not in {r["verdict"] for r in records}
    crashed = [r for r in records if r.get("explained_crashes")]
    assert crashed and all(r["verdict"] == "known-deviation" and r["mode"] == "train" for r in crashed)
    for r in crashed:
        line = r["explained_crashes"][f"{target}-masked-one-feature-crash"]
        assert line.startswith("IndexError: ") and "tuple index out of range" in line
