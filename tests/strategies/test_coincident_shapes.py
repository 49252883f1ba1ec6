"""The strategies draw sizes that coincide on purpose, as well as sizes that differ, under the ``ci``
profile the CI and ``bnconform run`` use; and on those shapes the conv2d property catches a layout bug
that distinct sizes never show (a bias broadcast along W instead of C when W_out == C_out, the way Keras
3.15.1 adds it on TensorFlow)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnconform.adapters.base import Capabilities
from bnconform import cases, strategies
from bnconform.reference import windows

REPO = Path(__file__).resolve().parents[2]
CI = settings.get_profile("ci")
FORMATS, PADDINGS = ("channels_last", "channels_first"), ("valid", "same", "explicit")
ALL = Capabilities(  # every option (capabilities are declared positively: the defaults offer nothing)
    ops=("batch_norm", "conv2d", "pool2d"), dtypes=("float32",), bn_modes=("train", "inference"), bn_backward=True,
    bn_ranks=(2, 4), bn_any_axis=True, conv_data_formats=FORMATS, conv_paddings=PADDINGS, conv_same_strided=True,
    conv_dilated_strided=True, conv_groups=True, conv_dilation=True, conv_bias=True,
    pool_kinds=("max", "avg", "global_avg"), pool_data_formats=FORMATS, pool_paddings=PADDINGS,
    pool_count_include_pad=(False,))
KERAS = dataclasses.replace(ALL, conv_paddings=("valid", "same"), conv_dilated_strided=False,
                            pool_paddings=("valid", "same"))


def drawn(strategy) -> list:
    """Every case the ``ci`` profile draws from ``strategy`` for one property (20, derandomized)."""
    found = []

    @settings(CI)
    @given(strategy)
    def collect(case):
        found.append(case)

    collect()
    return found


def nchw(case) -> tuple[int, int, int, int]:
    n, a, b, c = case.x_shape
    return case.x_shape if case.data_format == "channels_first" else (n, c, a, b)


def conv_out_width(case) -> int:
    _, _, h, w = nchw(case)
    return windows.plan((h, w), case.kernel, case.stride, case.dilation, case.padding)[1].out


@pytest.mark.parametrize("caps", [ALL, KERAS], ids=["every option", "keras options"])
def test_conv_cases_include_output_width_equal_to_filters_and_sizes_that_differ(caps):
    drawn_cases = drawn(strategies.conv_cases(caps, dtype="float32"))
    coinciding = [c for c in drawn_cases if nchw(c)[1] == nchw(c)[2] == nchw(c)[3] and conv_out_width(c) == c.c_out >= 2]
    assert any(c.bias and c.data_format == "channels_first" for c in coinciding)
    assert any(c.bias and c.data_format == "channels_last" for c in coinciding)
    assert any(nchw(c)[0] == nchw(c)[1] for c in coinciding)  # N == C too
    differing = [c for c in drawn_cases if len(set(nchw(c)[1:])) > 1 and conv_out_width(c) != c.c_out]
    assert len(differing) >= 3 and any(len(set(nchw(c)[1:])) == 3 for c in differing)


def test_bn_cases_include_n_equal_to_c_and_all_sizes_equal_and_sizes_that_differ():
    drawn_cases = drawn(strategies.bn_cases(ALL, dtype="float32"))
    assert any(len(c.shape) == 2 and c.shape[0] == c.shape[1] for c in drawn_cases)
    assert any(len(c.shape) == 4 and len(set(c.shape)) == 1 for c in drawn_cases)
    assert any(len(set(c.shape)) == len(c.shape) for c in drawn_cases)  # every size different


@pytest.mark.parametrize("kind", ["max", "avg", "global_avg"])
def test_pool_cases_include_h_equal_w_equal_c_and_sizes_that_differ(kind):
    drawn_cases = drawn(strategies.pool_cases(ALL, kind=kind, dtype="float32"))
    assert any(nchw(c)[1] == nchw(c)[2] == nchw(c)[3] for c in drawn_cases)
    assert any(len(set(nchw(c)[1:])) == 3 for c in drawn_cases)


def test_a_bias_laid_along_the_width_is_caught_by_the_conv2d_property_under_ci(tmp_path):
    """The real conv2d property, ``ci`` profile, against PyTorch with a planted bias broadcast (see
    ``planted_layout``): it fails in every dtype, each time on a case whose output width equals the
    number of filters; unplanted PyTorch passes the same examples."""
    if importlib.util.find_spec("torch") is None:  # not importorskip: importing torch after pytester's runs crashes
        pytest.skip("torch is not installed")
    no_deviations = tmp_path / "none.toml"
    no_deviations.write_text("")
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pytest", "bnconform/conformance/test_properties.py", "-k", "conv2d and not production", "-q",
               "-p", "no:cacheprovider", "-p", "tests.strategies.planted_layout",
               "--target", "planted-bias-along-w", "--target", "torch",
               "--results", str(tmp_path / "out"), "--known-deviations", str(no_deviations)]
    subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    records = json.loads((tmp_path / "out" / "results.json").read_text())["records"]
    verdicts = {(r["target"], r["dtype"]): r["verdict"] for r in records}
    dtypes = ("float16", "bfloat16", "float32", "float64")
    assert {verdicts[("torch", d)] for d in dtypes} == {"pass"}
    assert {verdicts[("planted-bias-along-w", d)] for d in dtypes} == {"fail"}
    for record in records:
        if record["verdict"] == "fail":
            case = cases.from_json(record["example"])
            assert case.bias and conv_out_width(case) == case.c_out >= 2, record["example"]
