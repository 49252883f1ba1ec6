"""The planted-bug matrix of the batch-norm surface (ranks by constructor options), shared by the PyTorch
and Keras ``--bn-impl`` surface tests."""

from __future__ import annotations


def assert_fails_only_where_broken(a, spec, shapes, options, case, failures) -> None:
    """``spec`` = (ranks, option names, expected failure): the adapter ``a`` of a planted bug fails with
    the expected ``property/mode/output`` on exactly those ranks and options, and nowhere else in
    ``shapes`` by ``options`` (``case(rank, **options[name])`` builds each case, ``failures`` judges it)."""
    ranks, broken, expected = spec
    for rank in shapes:
        for name in options:
            found = failures(a, case(rank, **options[name]))
            if rank in ranks and name in broken:
                assert expected in found, (rank, name, found)
            else:
                assert found == [], (rank, name)
