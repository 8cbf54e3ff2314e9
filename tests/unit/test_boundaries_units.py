"""Unit conversion and derived-value edges: rounding at the reported precision, equivalents on
either side, the exact refusals of Cockcroft-Gault, and the messages an unknown unit gives
(they are shown as the reason for `unknown`)."""

from __future__ import annotations

import math
import re

import pytest

from fhir_mappings.derived import cockcroft_gault
from fhir_mappings.units import UnitError, at_precision, convert

IU_IS_U = {"[IU]/L": "U/L"}


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (123.456, 2, 120.0),
        (123.456, 4, 123.5),
        (0.012345, 2, 0.012),
        (9.9937, 2, 10.0),  # 6.2 mmol/L haemoglobin in g/dL, reported with 2 digits
        (-0.5678, 2, -0.57),
        (1.0, 3, 1.0),
        (1.04, 2, 1.0),
        (0.0, 3, 0.0),
        (5.4321, None, 5.4321),
        (5.4321, 0, 5.4321),
    ],
)
def test_at_precision_rounds_to_significant_digits(
    value: float, digits: int | None, expected: float
) -> None:
    assert at_precision(value, digits) == pytest.approx(expected, abs=1e-12)


def test_at_precision_leaves_non_finite_values_alone() -> None:
    assert at_precision(math.inf, 2) == math.inf
    assert math.isnan(at_precision(math.nan, 2))


def test_equivalents_apply_to_the_target_unit_too() -> None:
    assert convert(45, "U/L", "[IU]/L", equivalents=IU_IS_U) == 45
    assert convert(45, "IU/L", "[IU]/L", equivalents=IU_IS_U) == 45


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("furlongs/L", "U/L", "unit 'furlongs/L' not recognised"),
        ("U/L", "furlongs/L", "unit 'furlongs/L' not recognised"),
        ("", "U/L", "unit '' not recognised"),
    ],
)
def test_unknown_units_say_which(source: str, target: str, message: str) -> None:
    with pytest.raises(UnitError) as caught:
        convert(1.0, source, target)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("age", "kg", "scr", "message"),
    [
        (0, 70.0, 1.0, "age must be a positive number, not 0"),
        (60, -70.0, 1.0, "weight must be a positive number, not -70.0"),
        (60, 70.0, float("nan"), "creatinine must be a positive number, not nan"),
        (140, 70.0, 1.0, "age 140 is outside the Cockcroft-Gault formula"),
    ],
)
def test_cockcroft_gault_refusals_say_which_input(
    age: int, kg: float, scr: float, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        cockcroft_gault(age, "male", kg, scr)


def test_cockcroft_gault_refuses_a_sex_it_has_no_formula_for() -> None:
    with pytest.raises(ValueError, match=r"^Cockcroft-Gault needs sex male or female$"):
        cockcroft_gault(60, "other", 70.0, 1.0)


def test_cockcroft_gault_at_the_edge_of_its_age_range() -> None:
    # (140 − 139) × 72 / (72 × 1.0) = 1 mL/min: 139 is still inside the formula.
    assert cockcroft_gault(139, "male", 72.0, 1.0) == pytest.approx(1.0)
    assert cockcroft_gault(1, "female", 72.0, 1.0) == pytest.approx(139 * 0.85)
