"""A user's layer (``--bn-impl``) on the surface of issue 22 (ranks 2 to 5, constructor options), case
by case through the user adapter and the checks every property uses: the honest layers conform on every
rank and option they take, each planted bug fails on the part of the surface it breaks and passes on
the rest, and an option a class's constructor does not accept, or a rank it refuses, is not drawn, with
the reason in the coverage (``bnconform.adapters.user_surface``)."""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("torch") is None:  # pragma: no cover - torch is a test dependency
    pytest.skip("torch is not installed", allow_module_level=True)

import torch  # noqa: E402

from bnconform import checks  # noqa: E402
from bnconform.adapters import user_impl  # noqa: E402
from bnconform.cases import BNCase, Values  # noqa: E402
from tests.adapters.surface_matrix import assert_fails_only_where_broken  # noqa: E402
from tests.bn_impl import torch_bn, torch_surface, torch_variants  # noqa: E402

SHAPES = {2: (6, 3), 3: (3, 4, 7), 4: (2, 3, 4, 4), 5: (2, 3, 2, 3, 4)}  # features on axis 1
OPTIONS = {"default": {}, "affine=False": dict(scale=False, center=False),
           "track_running_stats=False": dict(track_running_stats=False)}


def adapter(cls):
    spec = f"torch:{cls.__module__}:{cls.__name__}"
    return user_impl.torch_adapter(cls, spec, f"user-torch:{cls.__module__}.{cls.__name__}")


def case(rank, dtype="float32", **options):
    return BNCase(shape=SHAPES[rank], axis=1, dtype=dtype, eps=1e-3, momentum=0.1, steps=2,
                  x=Values(seed=rank, dist="normal", loc=0.5, scale=2.0), params_seed=rank, **options)


def failures(a, c, props=("bn_forward", "bn_backward", "bn_moving_stats")) -> list[str]:
    """The property/mode/output of every comparison outside its tolerance."""
    out = []
    for prop in props:
        for mode in (("train",) if prop == "bn_moving_stats" else ("train", "inference")):
            if prop == "bn_moving_stats" and not c.track_running_stats:
                continue
            check = checks._check(prop)
            out += [f"{prop}/{mode}/{r.name}" for r in check.judge(check.run(prop, a, c, mode)) if r.n_mismatch]
    return out


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("rank", sorted(SHAPES))
@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_the_honest_layer_conforms_on_every_rank_and_option(rank, options, dtype):
    a = adapter(torch_surface.SurfaceBatchNorm)
    assert a.capabilities.bn_ranks == (2, 3, 4, 5) and a.capabilities.bn_flags == ("affine", "track_running_stats")
    assert failures(a, case(rank, dtype, **OPTIONS[options])) == []


#: planted bug -> (the ranks it breaks, the options it breaks, what it fails there); every other
#: (rank, options) passes
ALL_RANKS, ALL_OPTIONS = tuple(SHAPES), tuple(OPTIONS)
BROKEN = {
    "SequenceStatsOverBatchOnly": ((3,), ALL_OPTIONS, "bn_forward/train/y"),
    "VolumeWrongAxes": ((5,), ALL_OPTIONS, "bn_forward/train/y"),
    "AffineFalseStillScales": (ALL_RANKS, ("affine=False",), "bn_forward/train/y"),
    "UntrackedUsesBuffers": (ALL_RANKS, ("track_running_stats=False",), "bn_forward/inference/y"),
}


@pytest.mark.parametrize("name", torch_surface.PLANTED)
def test_each_planted_bug_fails_where_it_breaks_and_only_there(name):
    assert set(BROKEN) == set(torch_surface.PLANTED)
    a = adapter(getattr(torch_surface, name))
    assert_fails_only_where_broken(a, BROKEN[name], SHAPES, OPTIONS, case, failures)


def test_an_option_the_constructor_does_not_take_is_not_drawn_with_its_reason():
    a = adapter(torch_variants.VariantBatchNorm2d)  # (num_features, eps, momentum) only
    assert a.capabilities.bn_flags == ()
    probes = a.coverage()["probes"]
    for flag in ("affine", "track_running_stats"):
        probe = probes[f"batch_norm option {flag}"]
        assert probe["offered"] is False
        assert f"accepts no '{flag}' keyword" in probe["reason"] and "VariantBatchNorm2d" in probe["reason"]
    assert a.capabilities.bn_ranks == (2, 3, 4, 5)  # the (m, C) flattening takes every rank
    assert probes["batch_norm option affine"] != probes["batch_norm option track_running_stats"]


class ImagesOnly(torch_bn.HandBatchNorm2d):
    """Takes (N, C) and (N, C, H, W) inputs only, as ``torch.nn.BatchNorm2d`` takes 4-D only."""

    def forward(self, x):
        if x.dim() not in (2, 4):
            raise ValueError(f"expected 2D or 4D input (got {x.dim()}D input)")
        return super().forward(x)


class RefusesAffine(torch_bn.HandBatchNorm2d):
    """Names ``affine`` in its signature but refuses to build without it."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        if not affine:
            raise NotImplementedError("affine=False is not implemented")
        super().__init__(num_features, eps=eps, momentum=momentum)


def test_a_rank_or_option_the_class_refuses_is_not_drawn_with_the_framework_message():
    a = adapter(ImagesOnly)
    assert a.capabilities.bn_ranks == (2, 4)
    probes = a.coverage()["probes"]
    for rank in (3, 5):
        assert probes[f"batch_norm rank {rank}"]["offered"] is False
        assert f"expected 2D or 4D input (got {rank}D input)" in probes[f"batch_norm rank {rank}"]["reason"]
    b = adapter(RefusesAffine)
    assert "affine" not in b.capabilities.bn_flags
    assert "NotImplementedError: affine=False is not implemented" in b.coverage()["probes"]["batch_norm option affine"]["reason"]


def test_pytorch_own_modules_take_every_rank_and_option():
    """The framework adapter, on the same cases: BatchNorm1d for (N, C) and (N, C, L), 3d for volumes."""
    from bnconform.adapters.torch_adapter import MODULES, TorchAdapter

    assert MODULES[3] is torch.nn.BatchNorm1d and MODULES[5] is torch.nn.BatchNorm3d
    a = TorchAdapter()
    for rank in SHAPES:
        for options in OPTIONS.values():
            assert failures(a, case(rank, **options)) == [], (rank, options)
