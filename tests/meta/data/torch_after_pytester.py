"""Run after tests/reports/test_plugin.py in one process (tests/meta/test_parallel.py): torch imported
in a test once pytester's in-process runs are over."""


def test_torch_imports_after_pytester_runs():
    import torch

    assert float(torch.ones(2).sum()) == 2.0
