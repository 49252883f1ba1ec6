"""Small helpers shared by the model modules (parameter checks, the batch-norm checks)."""

from __future__ import annotations

from .. import checks, masked_checks, synchronized_checks
from ..dtypes import DTYPES

#: the checks whose outputs depend on the batch statistics (a model of how they are computed
#: judges them all again)
BN_STATISTICS_CHECKS = (checks.BN_FORWARD, checks.BN_BACKWARD, checks.BN_MOVING_STATS, checks.BN_CALL_SEQUENCE,
                        masked_checks.BN_MASKED, synchronized_checks.BN_SYNCHRONIZED)


def is_dtype(value) -> bool:
    return isinstance(value, str) and value in DTYPES


def is_dtype_or_none(value) -> bool:
    return value is None or is_dtype(value)


DTYPE_WORDS = f"one of {', '.join(DTYPES)}"
