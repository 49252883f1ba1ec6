"""A user's Keras layer (``--bn-impl keras:...``) on the surface of issue 22 (ranks 2 to 5, ``center``,
``scale``, a frozen layer), case by case through the user adapter and the checks every property uses:
the honest layer conforms everywhere, each planted bug fails where it breaks and only there, and an
option the class's constructor does not take is not drawn, with the reason in the coverage."""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
    pytest.skip("Keras on tensorflow is not installed", allow_module_level=True)

from bnconform import checks  # noqa: E402
from bnconform.cases import BNCase, Values  # noqa: E402
from tests.adapters.surface_matrix import assert_fails_only_where_broken  # noqa: E402

SHAPES = {2: ((6, 3), 1), 3: ((3, 7, 4), -1), 4: ((2, 4, 4, 3), -1), 5: ((2, 3, 2, 3, 4), 1)}
OPTIONS = {"default": {}, "center=False": dict(center=False), "scale=False": dict(scale=False),
           "trainable=False": dict(trainable=False), "frozen, no gamma or beta": dict(trainable=False, scale=False,
                                                                                      center=False)}


@pytest.fixture(scope="module")
def surface():
    from bnconform.adapters.keras_adapter import active_keras

    active_keras("tensorflow")  # the Keras adapters' tests may have left Keras on another backend
    from tests.bn_impl import keras_surface

    return keras_surface


def adapter(cls):
    from bnconform.adapters.keras_user import UserKerasAdapter

    spec = f"keras:{cls.__module__}:{cls.__name__}"
    return UserKerasAdapter(cls, spec, f"user-keras:{cls.__module__}.{cls.__name__}")


def case(rank, **options):
    shape, axis = SHAPES[rank]
    return BNCase(shape=shape, axis=axis, dtype="float32", eps=1e-3, momentum=0.9, steps=2,
                  x=Values(seed=rank, dist="normal", loc=0.5, scale=2.0), params_seed=rank, **options)


def failures(a, c) -> list[str]:
    out = []
    for prop, modes in (("bn_forward", ("train", "inference")), ("bn_backward", ("train",)),
                        ("bn_moving_stats", ("train",))):
        for mode in modes:
            check = checks._check(prop)
            out += [f"{prop}/{mode}/{r.name}" for r in check.judge(check.run(prop, a, c, mode)) if r.n_mismatch]
    return out


def test_the_honest_layer_conforms_on_every_rank_and_option(surface):
    a = adapter(surface.SurfaceBatchNormalization)
    assert a.capabilities.bn_ranks == (2, 3, 4, 5)
    assert a.capabilities.bn_flags == ("scale", "center", "trainable")
    for rank in SHAPES:
        for options in OPTIONS.values():
            assert failures(a, case(rank, **options)) == [], (rank, options)


#: planted bug -> (ranks it breaks, options it breaks, what it fails there)
ALL_RANKS = tuple(SHAPES)
BROKEN = {
    "FrozenStillTrains": (ALL_RANKS, ("trainable=False", "frozen, no gamma or beta"), "bn_moving_stats/train/moving_mean"),
    "SequenceStatsPerTimestep": ((3,), tuple(OPTIONS) [:3], "bn_forward/train/y"),
    "ScaleFalseStillScales": (ALL_RANKS, ("scale=False", "frozen, no gamma or beta"), "bn_forward/train/y"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_planted_bug_fails_where_it_breaks_and_only_there(surface, name):
    assert set(BROKEN) == set(surface.PLANTED)
    a = adapter(getattr(surface, name))
    assert_fails_only_where_broken(a, BROKEN[name], SHAPES, OPTIONS, case, failures)


def test_options_the_constructor_does_not_take_are_not_drawn_with_the_reason(surface):
    from tests.bn_impl import keras_bn

    a = adapter(keras_bn.HandBatchNormalization)  # (axis, momentum, epsilon, **kwargs) passed to Layer
    assert a.capabilities.bn_flags == ("trainable",)  # an attribute of every Keras layer
    probes = a.coverage()["probes"]
    for flag in ("center", "scale"):
        probe = probes[f"batch_norm option {flag}"]
        assert probe["offered"] is False and f"{flag}=False" in probe["reason"]
        assert "Unrecognized keyword arguments" in probe["reason"], probe["reason"]
