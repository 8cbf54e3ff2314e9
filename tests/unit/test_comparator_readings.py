"""Comparators on every numeric path, from the FHIR JSON to the criterion: a valueQuantity
with `comparator`, a number written as text (valueString "<0.5 mg/dL", with ≤ ≥ =< =>), and
reference ranges written as text. ">10 cm", ">120 U/L" or "<0.5 mg/dL" are intervals, never
the plain numbers 10, 120 or 0.5."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings._read import number_text, range_text
from fhir_mappings.facts import LOINC, UCUM, Quantity
from fhir_mappings.observations import parse_observation
from fhir_mappings.record import build_record
from tests.unit.test_engine_rules import ALT_AST, MEASURABLE, TBIL_RULE, run

PATIENT = {"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1960-05-01"}


def observation(code: str, oid: str = "o1", **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": "2026-03-01",
        **value,
    }


@pytest.mark.parametrize(
    ("text", "value", "unit", "comparator", "digits"),
    [
        ("1.1", 1.1, None, None, 2),
        ("<0.5 mg/dL", 0.5, "mg/dL", "<", 1),
        ("< 0.50 mg/dL", 0.5, "mg/dL", "<", 2),
        (">120 U/L", 120.0, "U/L", ">", 3),
        ("> 10 cm", 10.0, "cm", ">", 2),
        ("<=5", 5.0, None, "<=", 1),
        ("≤5", 5.0, None, "<=", 1),
        ("=<5", 5.0, None, "<=", 1),
        (">=25 m[IU]/mL", 25.0, "m[IU]/mL", ">=", 2),
        ("≥ 25", 25.0, None, ">=", 2),
        ("=>25", 25.0, None, ">=", 2),
        ("-3", -3.0, None, None, 1),
        (".5", 0.5, None, None, 1),
        ("1e3 /uL", 1000.0, "/uL", None, 1),
        ("10*9/L", 10.0, "*9/L", None, 2),  # a number then unit text: read literally
        # Decimal commas, as European systems write them: never followed by three digits.
        ("0,8 mg/dl", 0.8, "mg/dl", None, 1),
        ("12,50", 12.5, None, None, 4),
        ("< 0,5", 0.5, None, "<", 1),
        ("1,2345", 1.2345, None, None, 5),
    ],
)
def test_numbers_written_as_text(
    text: str, value: float, unit: str | None, comparator: str | None, digits: int
) -> None:
    found = number_text(text)
    assert found == Quantity(value, unit, comparator)
    assert found is not None
    assert found.precision == digits


@pytest.mark.parametrize(
    "text",
    [
        "",
        "positive",
        "1,200",
        "250,000",
        "1,200.5",
        "1.200,5",
        "1,2,3",
        "1.2.3",
        "< >5",
        "5 <",
        "inf",
        "nan",
    ],
)
def test_text_that_is_not_one_number(text: str) -> None:
    assert number_text(text) is None


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("3-17 umol/L", Quantity(3, "umol/L"), Quantity(17, "umol/L")),
        ("3.5 – 5.2 g/dL", Quantity(3.5, "g/dL"), Quantity(5.2, "g/dL")),
        ("3 to 17", Quantity(3, None), Quantity(17, None)),
        ("<1.2 mg/dL", None, Quantity(1.2, "mg/dL")),
        ("≤ 40 U/L", None, Quantity(40, "U/L")),
        ("> 3.5 g/dL", Quantity(3.5, "g/dL"), None),
        (">=60", Quantity(60, None), None),
        ("3,5-5,2 g/dl", Quantity(3.5, "g/dl"), Quantity(5.2, "g/dl")),
        ("0,3 - 1,2 mg/dl", Quantity(0.3, "mg/dl"), Quantity(1.2, "mg/dl")),
    ],
)
def test_reference_ranges_written_as_text(
    text: str, low: Quantity | None, high: Quantity | None
) -> None:
    assert range_text(text) == (low, high)


@pytest.mark.parametrize("text", ["17-3", "normal", "40 U/L", "", "1,200-3,400"])
def test_reference_range_text_that_is_no_range(text: str) -> None:
    assert range_text(text) is None


def test_a_valuestring_keeps_its_comparator_and_its_text() -> None:
    fact = parse_observation(observation("1975-2", valueString="<0.5 mg/dL"))
    assert fact.value.quantity == Quantity(0.5, "mg/dL", "<")
    assert fact.value.text == "<0.5 mg/dL"
    assert fact.problem is None


@pytest.mark.parametrize("comparator", ["<", "<=", ">=", ">"])
def test_a_valuequantity_comparator_is_kept(comparator: str) -> None:
    fact = parse_observation(
        observation(
            "1742-6",
            valueQuantity={"value": 120, "comparator": comparator, "system": UCUM, "code": "U/L"},
        )
    )
    assert fact.value.quantity == Quantity(120.0, "U/L", comparator)


def test_an_invalid_comparator_makes_the_value_unusable() -> None:
    fact = parse_observation(
        observation(
            "1742-6", valueQuantity={"value": 120, "comparator": "~", "system": UCUM, "code": "U/L"}
        )
    )
    assert fact.value.quantity is None
    assert fact.problem == "quantity comparator '~' is not valid"


def screen(rule: dict[str, Any], *resources: dict[str, Any], lookback: int = 28) -> Any:
    return run(rule, build_record([PATIENT, *resources]), lookback=lookback)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueString": "<0.5 mg/dL"}, "met"),
        ({"valueString": "1.8 mg/dL"}, "met"),  # exactly 1.5 × the default ULN of 1.2
        ({"valueString": ">1.8 mg/dL"}, "not_met"),
        ({"valueString": "<2.5 mg/dL"}, "unknown"),
        ({"valueString": "<0.5"}, "unknown"),  # no unit: not a number in mg/dL
        (
            {"valueQuantity": {"value": 0.5, "comparator": "<", "system": UCUM, "code": "mg/dL"}},
            "met",
        ),
    ],
)
def test_bilirubin_readings_end_to_end(value: dict[str, Any], expected: str) -> None:
    assert screen(TBIL_RULE, observation("1975-2", **value)).status == expected


def test_alt_above_the_limit_written_as_text_is_not_met() -> None:
    alt = observation(
        "1742-6",
        valueString=">120 U/L",
        referenceRange=[{"high": {"value": 40, "system": UCUM, "code": "U/L"}}],
    )
    ast = observation(
        "1920-8",
        oid="o2",
        valueQuantity={"value": 30, "system": UCUM, "code": "U/L"},
        referenceRange=[{"text": "<40 U/L"}],
    )
    result = screen(ALT_AST, alt, ast)
    assert result.status == "not_met"
    assert result.reason.startswith("ALT >120 U/L on 2026-03-01 (vs ULN) is > 3× ULN")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueString": "12 mm"}, "met"),
        ({"valueString": "1.0 cm"}, "met"),
        ({"valueString": ">10 cm"}, "unknown"),
        (
            {"valueQuantity": {"value": 10, "comparator": ">", "system": UCUM, "code": "cm"}},
            "unknown",
        ),
    ],
)
def test_lesion_sizes_end_to_end(value: dict[str, Any], expected: str) -> None:
    assert screen(MEASURABLE, observation("21889-1", **value), lookback=90).status == expected
