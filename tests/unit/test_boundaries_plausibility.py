"""Physiological plausibility at its exact limits: inclusive and exclusive lower limits,
the upper limit, comparators whose endpoint is the limit, converted units, and scales that
only have whole points. The reason names the value and the limits."""

from __future__ import annotations

import math

import pytest

from fhir_mappings.facts import ObservationValue, Quantity
from fhir_mappings.reading import implausible
from fhir_mappings.terminology import load_terminology

TERMINOLOGY = load_terminology()


def check(
    code_set: str, value: float, unit: str | None, comparator: str | None = None
) -> str | None:
    quantity = Quantity(value, unit, comparator)
    return implausible(ObservationValue(quantity=quantity), TERMINOLOGY.code_sets[code_set])


@pytest.mark.parametrize(
    ("code_set", "value", "unit", "bad"),
    [
        # hemoglobin: 1–26 g/dL, lower limit inclusive.
        ("hemoglobin", 1.0, "g/dL", False),
        ("hemoglobin", 0.99, "g/dL", True),
        ("hemoglobin", 26.0, "g/dL", False),
        ("hemoglobin", 26.01, "g/dL", True),
        ("hemoglobin", 260.0, "g/L", False),  # 26 g/dL in g/L
        ("hemoglobin", 261.0, "g/L", True),
        ("hemoglobin", 0.0, "g/dL", True),  # zero with a positive lower limit
        # total bilirubin: (0, 80] mg/dL, lower limit exclusive.
        ("total_bilirubin", 0.0, "mg/dL", True),
        ("total_bilirubin", 0.01, "mg/dL", False),
        ("total_bilirubin", 80.0, "mg/dL", False),
        ("total_bilirubin", 80.5, "mg/dL", True),
        ("total_bilirubin", -1.0, "mg/dL", True),
        ("total_bilirubin", -1.0, "furlongs", True),  # negative is impossible in any unit
        # ANC: [0, 300] ×10⁹/L, zero allowed.
        ("anc", 0.0, "10*9/L", False),
        ("anc", 300.0, "10*9/L", False),
        ("anc", 300.1, "10*9/L", True),
        ("anc", -0.1, "10*9/L", True),
        # platelets: 1–5000 ×10⁹/L; a count sent in 10*3/L (a unit slip for 10*3/uL)
        # converts to a millionth of itself, under any analyser's reportable count.
        ("platelets", 1.0, "10*9/L", False),
        ("platelets", 0.99, "10*9/L", True),
        ("platelets", 245.0, "10*3/uL", False),
        ("platelets", 245.0, "10*3/L", True),
        ("platelets", 5000.0, "10*9/L", False),
        ("platelets", 5001.0, "10*9/L", True),
        # INR: dimensionless 0.5–30.
        ("inr", 0.5, None, False),
        ("inr", 0.49, None, True),
        ("inr", 30.0, "{INR}", False),
        ("inr", 31.0, "1", True),
    ],
)
def test_plausibility_at_its_limits(
    code_set: str, value: float, unit: str | None, bad: bool
) -> None:
    why = check(code_set, value, unit)
    assert (why is not None) == bad
    if why is not None:
        assert why.startswith("implausible value: ")


def test_the_reason_names_the_value_and_the_limits() -> None:
    assert check("hemoglobin", 0.5, "g/dL") == (
        "implausible value: 0.5 g/dL is outside the physiological limits 1–26 g/dL"
    )
    assert check("total_bilirubin", 0.0, "mg/dL") == (
        "implausible value: 0 mg/dL is outside the physiological limits 0–80 mg/dL"
    )
    assert check("inr", 40.0, None) == (
        "implausible value: 40 is outside the physiological limits 0.5–30 {INR}"
    )
    assert check("anc", math.inf, "10*9/L") == (
        "implausible value: inf 10*9/L is not a finite number"
    )


@pytest.mark.parametrize(
    ("value", "comparator", "bad"),
    [
        # hemoglobin 1–26 g/dL: "<1" has no possible value, "<=1" has one.
        (1.0, "<", True),
        (1.0, "<=", False),
        (0.9, "<=", True),
        (26.0, ">", True),
        (26.0, ">=", False),
        (27.0, ">=", True),
        (5.0, "<", False),
        (5.0, ">", False),
    ],
)
def test_comparators_against_the_limits(value: float, comparator: str, bad: bool) -> None:
    why = check("hemoglobin", value, "g/dL", comparator)
    assert (why is not None) == bad
    if why is not None:
        assert why.startswith(f"implausible value: {comparator}")


def test_a_comparator_at_zero_is_judged_as_an_interval() -> None:
    # "<0.1 mg/dL" bilirubin is a real result (below the assay's limit), not a zero.
    assert check("total_bilirubin", 0.1, "mg/dL", "<") is None
    assert check("total_bilirubin", 0.0, "mg/dL", "<") is not None


@pytest.mark.parametrize(
    ("unit", "why"),
    [(None, None), ("furlongs", None), ("kg", None)],
)
def test_units_it_cannot_read_are_left_to_the_engine(unit: str | None, why: str | None) -> None:
    assert check("hemoglobin", 500.0, unit) == why


def test_a_dimensionless_limit_ignores_values_in_another_unit() -> None:
    assert check("inr", 40.0, "mg/dL") is None


@pytest.mark.parametrize(("value", "bad"), [(0, False), (5, False), (6, True), (-1, True)])
def test_integer_scores_at_the_ends_of_their_scale(value: int, bad: bool) -> None:
    why = implausible(ObservationValue(integer=value), TERMINOLOGY.code_sets["ecog"])
    assert (why is not None) == bad


def test_a_score_between_points_of_its_scale() -> None:
    assert check("ecog", 1.5, None) == "implausible value: 1.5 is not a point on the ecog scale"
    assert check("ecog", 2.0, None) is None
    # A comparator is an interval, not a point.
    assert check("ecog", 1.5, None, "<") is None


def test_coded_answers_and_sets_without_limits_are_never_implausible() -> None:
    coded = ObservationValue(codes=frozenset({("http://loinc.org", "LA9624-3")}))
    assert implausible(coded, TERMINOLOGY.code_sets["ecog"]) is None
    assert (
        implausible(ObservationValue(quantity=Quantity(-5, "mg/dL")), TERMINOLOGY.code_sets["msi"])
        is None
    )
