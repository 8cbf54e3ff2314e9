from __future__ import annotations

import pytest

from cds_hooks.eligibility.values import compare


@pytest.mark.parametrize(
    ("value", "comparator", "op", "threshold", "expected"),
    [
        (1.8, None, ">=", 1.5, "met"),
        (1.5, None, ">=", 1.5, "met"),
        (1.2, None, ">=", 1.5, "not_met"),
        # "<0.3" bilirubin is at most 0.3: below any ULN multiple above it.
        (0.3, "<", "<=", 1.8, "met"),
        # "<5" cannot reach ≥ 10 …
        (5, "<", ">=", 10, "not_met"),
        # … but "<20" may or may not be ≥ 10.
        (20, "<", ">=", 10, "unknown"),
        (1.5, "<", ">=", 1.5, "not_met"),
        (1.5, "<=", ">=", 1.5, "unknown"),
        (200, ">", ">=", 100, "met"),
        (50, ">", ">=", 100, "unknown"),
        (100, ">", "<=", 100, "not_met"),
    ],
)
def test_compare_respects_comparators(
    value: float, comparator: str | None, op: str, threshold: float, expected: str
) -> None:
    assert compare(value, comparator, op, threshold) == expected


def test_threshold_products_are_compared_without_float_noise() -> None:
    # 1.5 × 1.2 is 1.7999999999999998 in binary floating point: 1.8 is exactly at the limit.
    assert compare(1.8, None, "<=", 1.5 * 1.2) == "met"
    assert compare(1.8000001, None, "<=", 1.5 * 1.2) == "not_met"
