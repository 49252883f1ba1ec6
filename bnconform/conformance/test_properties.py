"""Every property of the table against the reference: two generic tests (OpInfo's pattern).

Each row of ``bnconform.properties.TABLE`` that draws cases names its op, modes, dtypes, pooling
kinds and strategy; :func:`test_property` draws examples from it through the target and judges each
one under the tolerance model (``bnconform.tolerance``): batch normalization (Ioffe and Szegedy
2015, Algorithm 1 and Section 3), 2-D convolution and pooling. A new property is a new row.

The Hypothesis properties draw from short menus of small shapes; real layers run other kernels at
real sizes (blocked and parallel reductions, im2col/Winograd, blocked layouts).
:func:`test_property_at_production_size` runs one fixed production-size case
(``strategies.production_cases``) per row with ``production=True``, per kind and per dtype of
``properties.PRODUCTION_DTYPES`` (float32, float16, bfloat16), through the same ``run_example``: the
same judgement, the same record, the same replay command.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnconform import strategies

from .conftest import check_drawn, every_row, require_property, run_example


@every_row()
@given(data=st.data())
def test_property(target, prop, kind, dtype, mode, adapter, observe, data):
    """One drawn example of the row ``prop`` (a case, and for a call sequence its calls)."""
    check_drawn(prop, observe, adapter, data, dtype, mode, kind)


@every_row(production=True)
def test_property_at_production_size(target, prop, kind, dtype, mode, adapter, observe):
    """The row's production-size case (``shapes.*_PRODUCTION``), once per dtype and mode."""
    require_property(adapter, prop, dtype, mode, kind)
    case = strategies.production_cases(adapter.capabilities, dtype=dtype).get(kind or prop.op)
    if case is None:
        pytest.skip(f"{adapter.name} offers no production-size {kind or prop.op} case (see strategies.production_cases)")
    run_example(observe, adapter, prop.name, case, mode)
