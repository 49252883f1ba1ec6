"""A known deviation scoped to a kernel path, end to end: TensorFlow's Eigen AvgPool sums bfloat16 in
bfloat16 (420 ulp on the production case), and the entries ``*-avg-pool-bfloat16-sum-eigen``
(``kernels = "onednn-off"``) explain it on that path. The conformance run under ``--kernels
onednn-off`` records the path it measured and is a known deviation with the repository's file, and a
new failure with the same file less those two entries: the entry, not a tolerance, is what passes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras")
pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parents[2]
EIGEN_ENTRIES = ("keras-tensorflow-avg-pool-bfloat16-sum-eigen", "tf-keras-avg-pool-bfloat16-sum-eigen")


#: the production-size bfloat16 average pooling of Keras on TensorFlow
PRODUCTION_AVG = "test_property_at_production_size[keras-tensorflow-pool2d-avg-bfloat16--]"


def run(tmp_path: Path, known: Path | None = None) -> list[dict]:
    """The bfloat16 average-pooling tests on oneDNN off, with the shipped entries (and ``known``, a
    project file, applied)."""
    out = tmp_path / "results"
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", CI="true")
    env.pop("BNCONFORM_KERNELS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bnconform/conformance/test_properties.py",
         "-p", "no:cacheprovider", "-q", "--hypothesis-profile", "ci", "--target", "keras-tensorflow",
         "--kernels", "onednn-off", *(["--known-deviations", str(known)] if known else []), "--results", str(out),
         "-k", "pool2d and bfloat16 and avg and not nonfinite"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert (out / "results.json").is_file(), proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads((out / "results.json").read_text())["records"]


def test_the_eigen_entries_explain_bfloat16_average_pooling_on_that_path_only(tmp_path):
    records = run(tmp_path / "with")
    assert records and {r["kernels"] for r in records} == {"onednn-off"}
    production = [r for r in records if r["id"].endswith(PRODUCTION_AVG)]
    assert [r["verdict"] for r in production] == ["known-deviation"]
    # the drawn production sizes (two examples a test): each one that fails is this entry's
    explained = production[0]["explained"]
    assert set(explained) == {"keras-tensorflow-avg-pool-bfloat16-sum-eigen"} and explained[
        "keras-tensorflow-avg-pool-bfloat16-sum-eigen"] >= 1, explained
    assert production[0]["max_tol_ratio"] > 100  # hundreds of units of the float32-accumulation bound

    known = tmp_path / "bnconform.toml"  # the project disables the two entries
    known.write_text("disable = [" + ", ".join(f'"{i}"' for i in EIGEN_ENTRIES) + "]\n")
    records = run(tmp_path / "without", known)
    assert [r["verdict"] for r in records
            if r["id"].endswith(PRODUCTION_AVG)] == ["fail"]


def test_replay_judges_the_entries_by_the_kernel_path_as_the_run_does():
    """``bnconform replay`` decides like the conformance run: the Eigen entry (``kernels =
    "onednn-off"``) covers a bfloat16 average pooling that ran on Eigen, even under ``onednn-on`` on
    a CPU whose oneDNN does not serve bfloat16 (the path is per dtype)."""
    case = ('{"kind":"avg","x_shape":[1,4,4,1],"data_format":"channels_last","window":[2,2],"stride":[2,2],'
            '"padding":"valid","ceil_mode":false,"count_include_pad":false,"p":2.0,"dtype":"bfloat16",'
            '"x":{"seed":0,"dist":"normal","loc":0.0,"scale":1.0,"constant_feature":null,"specials":[]},"op":"pool2d"}')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("BNCONFORM_KERNELS", None)
    proc = subprocess.run([sys.executable, "-m", "bnconform", "replay", "keras-tensorflow", "pool2d", "-", case,
                           "--kernels", "onednn-off"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    assert "| kernels onednn-off (asked: onednn-off)" in proc.stdout
    assert ("known deviation keras-tensorflow-avg-pool-bfloat16-sum-eigen = half_precision_accumulation(): "
            "explains this example") in proc.stdout


def test_replay_applies_the_project_file(tmp_path):
    """The project's file is in force in a replay as in the run: with the Eigen entry disabled, the
    same example is no longer explained by it."""
    (tmp_path / "bnconform.toml").write_text(f'disable = ["{EIGEN_ENTRIES[0]}"]\n')
    case = ('{"kind":"avg","x_shape":[1,4,4,1],"data_format":"channels_last","window":[2,2],"stride":[2,2],'
            '"padding":"valid","ceil_mode":false,"count_include_pad":false,"p":2.0,"dtype":"bfloat16",'
            '"x":{"seed":0,"dist":"normal","loc":0.0,"scale":1.0,"constant_feature":null,"specials":[]},"op":"pool2d"}')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    env.pop("BNCONFORM_KERNELS", None)
    proc = subprocess.run([sys.executable, "-m", "bnconform", "replay", "keras-tensorflow", "pool2d", "-", case,
                           "--kernels", "onednn-off"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    assert "| kernels onednn-off (asked: onednn-off)" in proc.stdout
    assert EIGEN_ENTRIES[0] not in proc.stdout
