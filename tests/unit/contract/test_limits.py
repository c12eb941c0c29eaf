"""Limits: the 3/4 rule is exact at its edge, and the ranges refuse one past each bound."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.contract import limits
from pipeline.contract.limits import LimitError, TransformLimits


@given(
    st.integers(min_value=limits.RESPONSE_BUDGET_BYTES.low, max_value=limits.RESPONSE_LIMIT_BYTES)
)
def test_largest_inline_is_the_edge_of_the_rule(budget: int) -> None:
    largest = limits.largest_inline(budget)
    assert limits.base64_bytes(largest) + limits.RESPONSE_ENVELOPE_BYTES <= budget
    assert limits.base64_bytes(largest + 3) + limits.RESPONSE_ENVELOPE_BYTES > budget
    limits.check_inline_fits_budget(largest, budget)
    with pytest.raises(LimitError):
        limits.check_inline_fits_budget(largest + 1, budget)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 1000])
def test_base64_bytes_is_the_encoded_length(size: int) -> None:
    assert limits.base64_bytes(size) == len(base64.b64encode(b"x" * size))


def test_inline_zero_is_allowed() -> None:
    assert (
        limits.validate_transform_limits(TransformLimits(inline_max_bytes=0)).inline_max_bytes == 0
    )


@pytest.mark.parametrize("field", list(limits.TRANSFORM_RANGES))
def test_each_range_refuses_one_past_its_bounds(field: str) -> None:
    allowed = limits.TRANSFORM_RANGES[field]
    for value in (allowed.low - 1, allowed.high + 1):
        with pytest.raises(LimitError) as refused:
            allowed.check(field, value)
        assert refused.value.field == field
    assert allowed.check(field, allowed.low) == allowed.low
