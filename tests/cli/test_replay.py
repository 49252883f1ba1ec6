"""``bnconform replay``: the one-line command every failure prints re-runs exactly that example."""

from __future__ import annotations

import json

import pytest

from bnconform.app.cli import main

pytest.importorskip("torch")

# A ceil-mode Lp pooling case that PyTorch gets wrong (a known deviation: the border window is
# scaled by kh*kw / covered), and the same case in floor mode, which it gets right.
CEIL = ('{"op":"pool2d","kind":"lp","x_shape":[1,1,5,1],"data_format":"channels_first","window":[3,1],'
        '"stride":[3,1],"padding":"valid","ceil_mode":true,"p":2.0,"dtype":"float32",'
        '"x":{"seed":1,"dist":"uniform","loc":0.0,"scale":1.0,"constant_feature":null,"specials":[]}}')


def test_a_failing_example_replays_as_a_failure_with_the_comparison(capsys):
    assert main(["replay", "torch", "pool2d_lp_ceil_mode", "-", CEIL]) == 1
    out = capsys.readouterr().out
    assert "pool2d_lp_ceil_mode | torch (torch" in out
    assert "Mismatched elements in 'y'" in out and "Greatest difference in units of the tolerance" in out
    assert "known deviation torch-lp-pool-ceil-rescaled = lp_pool_ceil_rescaled(): explains this example" in out


def test_a_conforming_example_replays_as_a_pass(capsys):
    assert main(["replay", "torch", "pool2d", "-", CEIL.replace('"ceil_mode":true', '"ceil_mode":false')]) == 0
    assert "all 1 elements within tolerance" in capsys.readouterr().out


# A call sequence: the mode names the calls, one batch each (steps 3), momentum=None.
SEQUENCE = ('{"op":"batch_norm","shape":[8,3],"axis":1,"dtype":"float32","eps":0.001,"momentum":null,"steps":3,'
            '"x":{"seed":2,"dist":"normal","loc":1.0,"scale":2.0,"constant_feature":null,"specials":[]},'
            '"params_seed":4,"random_params":true}')


def test_a_call_sequence_replays_with_its_calls_as_the_mode(capsys):
    assert main(["replay", "torch", "bn_call_sequence", "train,inference,train", SEQUENCE]) == 0
    out = capsys.readouterr().out
    for name in ("y after call 1 (train)", "moving_mean after call 2 (inference)", "moving_var after call 3 (train)"):
        assert f"{name!r}: all" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["replay", "torch", "bn_call_sequence", "train,sleep,train", SEQUENCE], "mode: a call sequence is calls from"),
        (["replay", "torch", "bn_call_sequence", "train,inference", SEQUENCE], "mode: 2 calls for a case of 3 steps"),
        (["replay", "torch", "bn_call_sequence", "train,no-flag,train", SEQUENCE], "a module has no per-call training flag"),
        (["replay", "torch", "pool2d", "-", "{not json"], "bnconform replay:"),
        (["replay", "no-such-target", "pool2d", "-", CEIL], "unknown adapter 'no-such-target'"),
        (["replay", "torch", "no_such_property", "-", CEIL], "property: expected one of"),
        (["replay", "torch", "pool2d", "-", '{"op":"pool2d","colour":"red"}'], "unknown fields for pool2d"),
        (["replay", "torch", "conv2d", "-", CEIL], "case: a pool2d case, but property conv2d checks conv2d"),
        (["replay", "torch", "pool2d_nonfinite", "-", CEIL],
         "case: lp pooling, but property pool2d_nonfinite checks max, avg pooling"),
        (["replay", "torch", "drift_corpus", "-", CEIL], "case: a pool2d case, but property drift_corpus checks corpus"),
        (["replay", "torch", "conventions", "-", SEQUENCE], "conventions: the example comes from the fingerprint probes"),
    ],
)
def test_bad_input_is_a_usage_error_naming_it(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


@pytest.fixture
def registry_restored(monkeypatch):
    """The replay registers the user's layer as a target in this process: undo it after the test,
    so that later tests see the registry's own targets only."""
    from bnconform import adapters

    monkeypatch.setattr(adapters, "_REGISTRY", dict(adapters._REGISTRY))
    monkeypatch.setattr(adapters, "_LOADED", dict(adapters._LOADED))


def test_a_framework_exception_is_an_error_verdict_in_one_paragraph(capsys, registry_restored):
    """What the framework raises on a valid case is the replay's verdict (exit 1), told in one
    paragraph with the exception, the case and where it ran; never a traceback or a usage error."""
    seven = SEQUENCE.replace('"shape":[8,3]', '"shape":[7,3]').replace('"steps":3', '"steps":1')
    target = "user-torch:tests.bn_impl.torch_bn.RaisesOnSevenRows"
    assert main(["replay", target, "bn_forward", "train", seven]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert f"bn_forward | {target}" in captured.out and "| device cpu" in captured.out
    assert ("ERROR: the framework raised builtins.RuntimeError: could not create a primitive descriptor "
            "for a batch of 7 rows") in captured.out
    case_lines = [line for line in captured.out.splitlines() if line.startswith("case: ")]
    assert len(case_lines) == 1 and json.loads(case_lines[0].removeprefix("case: "))["shape"] == [7, 3]
    assert "verdict: error" in captured.out
    # the same layer on a case it accepts replays as usual
    assert main(["replay", target, "bn_forward", "train", SEQUENCE.replace('"steps":3', '"steps":1')]) == 0


def test_an_unknown_kernel_configuration_is_a_usage_error(capsys):
    assert main(["replay", "torch", "pool2d", "-", CEIL, "--kernels", "avx9000"]) == 2
    assert "--kernels: unknown kernel configuration 'avx9000'; known: default, aten-avx512" in capsys.readouterr().err
