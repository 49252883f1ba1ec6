"""Every property of the table against the reference: two generic tests (OpInfo's pattern).

Each row of ``bnconform.properties.TABLE`` that draws cases names its op, modes, dtypes, pooling
kinds and strategy; :func:`test_property` draws examples from it through the target and judges each
one under the tolerance model (``bnconform.tolerance``): batch normalization (Ioffe and Szegedy
2015, Algorithm 1 and Section 3), 2-D convolution and pooling. A new property is a new row.

The Hypothesis properties draw from short menus of small shapes; real layers run other kernels at
real sizes (blocked and parallel reductions, im2col/Winograd, blocked layouts, vector loops and
their remainders). :func:`test_property_at_production_size` draws ``shapes.PRODUCTION_EXAMPLES``
production-size cases (``strategies.production_cases``: sizes on the multiples of 8, 16 and 32 or
off them, half the time each) per row with ``production=True``, per kind and per dtype of
``properties.PRODUCTION_DTYPES`` (float32, float16, bfloat16), through the same ``run_example``: the
same judgement, the same record, the same replay command. It does not shrink: a smaller
production-size case costs as much to try as the failing one, and the first failure is replayable.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from bnconform import shapes, strategies

from .conftest import check_drawn, every_row, require_property, run_example


@every_row()
@given(data=st.data())
def test_property(target, prop, kind, dtype, mode, adapter, observe, data):
    """One drawn example of the row ``prop`` (a case, and for a call sequence its calls)."""
    check_drawn(prop, observe, adapter, data, dtype, mode, kind)


@every_row(production=True)
@settings(max_examples=shapes.PRODUCTION_EXAMPLES, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(data=st.data())
def test_property_at_production_size(target, prop, kind, dtype, mode, adapter, observe, data):
    """The row's drawn production-size cases (``shapes.*_PRODUCTION_BASES``), per dtype and mode."""
    require_property(adapter, prop, dtype, mode, kind)
    key = kind or prop.op
    if key not in strategies.production_keys(adapter.capabilities):
        pytest.skip(f"{adapter.name} offers no production-size {key} case (see strategies.production_keys)")
    case = data.draw(strategies.production_cases(adapter.capabilities, dtype=dtype, key=key), label="case")
    run_example(observe, adapter, prop.name, case, mode)
