"""Observation → ObservationFact, and the FHIR date reading it relies on."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from fhir_mappings.dates import first_full_date, first_present_date, parse_date
from fhir_mappings.facts import LOINC, UCUM, ObservationValue, Quantity
from fhir_mappings.observations import parse_observation

V2_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LOCAL_LAB = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14"


def lab(**extra: Any) -> dict[str, Any]:
    """An ANC result as a hospital lab sends it: LOINC plus the lab's local code."""
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "anc-1",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": LOINC, "code": "751-8", "display": "Neutrophils [#/volume] in Blood"},
                {"system": LOCAL_LAB, "code": "1558", "display": "ABS NEUTROPHILS"},
            ],
            "text": "Absolute neutrophil count",
        },
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-02-27T08:15:00+01:00",
        "issued": "2026-02-27T11:02:31.120+01:00",
        "valueQuantity": {"value": 3.2, "unit": "10^9/L", "system": UCUM, "code": "10*9/L"},
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def test_lab_with_two_codings_si_unit_and_reference_range() -> None:
    fact = parse_observation(
        lab(
            referenceRange=[
                {
                    "low": {"value": 1.8, "unit": "10^9/L", "system": UCUM, "code": "10*9/L"},
                    "high": {"value": 7.5, "unit": "10^9/L", "system": UCUM, "code": "10*9/L"},
                    "text": "1.8-7.5",
                }
            ],
            interpretation=[{"coding": [{"system": V2_INTERPRETATION, "code": "N"}]}],
        )
    )
    assert fact.ref == "Observation/anc-1"
    assert fact.codes == {(LOINC, "751-8"), (LOCAL_LAB, "1558")}
    assert fact.status == "final"
    assert fact.date == date(2026, 2, 27)
    # UCUM code, not the printable unit text.
    assert fact.value.quantity == Quantity(3.2, "10*9/L")
    (rng,) = fact.reference_ranges
    assert rng.low == Quantity(1.8, "10*9/L")
    assert rng.high == Quantity(7.5, "10*9/L")
    assert rng.text == "1.8-7.5"
    assert fact.interpretation == {(V2_INTERPRETATION, "N")}
    assert fact.display == "Absolute neutrophil count"
    assert fact.problem is None


def test_unit_text_is_used_when_the_code_is_not_ucum() -> None:
    fact = parse_observation(
        lab(valueQuantity={"value": 180, "unit": "K/uL", "system": LOCAL_LAB, "code": "KUL"})
    )
    assert fact.value.quantity == Quantity(180.0, "K/uL")


def test_comparator_is_kept() -> None:
    fact = parse_observation(
        lab(
            code={"coding": [{"system": LOINC, "code": "1975-2"}]},
            valueQuantity={"value": 0.3, "comparator": "<", "system": UCUM, "code": "mg/dL"},
        )
    )
    assert fact.value.quantity == Quantity(0.3, "mg/dL", "<")
    assert fact.problem is None


def test_sex_specific_reference_ranges_keep_applies_to() -> None:
    female = {"system": "http://hl7.org/fhir/administrative-gender", "code": "female"}
    male = {"system": "http://hl7.org/fhir/administrative-gender", "code": "male"}
    fact = parse_observation(
        lab(
            referenceRange=[
                {
                    "high": {"value": 0.9, "code": "mg/dL", "system": UCUM},
                    "appliesTo": [{"coding": [female]}],
                },
                {
                    "high": {"value": 1.2, "code": "mg/dL", "system": UCUM},
                    "appliesTo": [{"coding": [male]}],
                },
            ]
        )
    )
    by_sex = {next(iter(r.applies_to))[1]: r.high for r in fact.reference_ranges}
    assert by_sex == {"female": Quantity(0.9, "mg/dL"), "male": Quantity(1.2, "mg/dL")}


def test_data_absent_reason_is_read_and_leaves_no_value() -> None:
    fact = parse_observation(
        lab(
            valueQuantity=None,
            dataAbsentReason={
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                        "code": "error",
                        "display": "Error",
                    }
                ]
            },
        )
    )
    assert fact.value.data_absent_reason == "Error"
    assert fact.value.is_empty


def test_data_absent_reason_without_display_falls_back_to_code() -> None:
    fact = parse_observation(
        lab(valueQuantity=None, dataAbsentReason={"coding": [{"code": "not-performed"}]})
    )
    assert fact.value.data_absent_reason == "not-performed"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"system": LOINC, "code": "LA9622-7", "display": "Fully active"}],
                    "text": "ECOG 0",
                }
            },
            ObservationValue(codes=frozenset({(LOINC, "LA9622-7")}), text="ECOG 0"),
        ),
        ({"valueCodeableConcept": {"text": "Negative"}}, ObservationValue(text="Negative")),
        ({"valueString": "MSS"}, ObservationValue(text="MSS")),
        ({"valueInteger": 1}, ObservationValue(integer=1)),
        ({"valueInteger": 0}, ObservationValue(integer=0)),
        ({"valueBoolean": False}, ObservationValue(boolean=False)),
        ({}, ObservationValue()),
    ],
)
def test_value_types(extra: dict[str, Any], expected: ObservationValue) -> None:
    fact = parse_observation(lab(valueQuantity=None, **extra))
    assert fact.value == expected
    assert fact.problem is None


def test_components_with_their_own_values_and_ranges() -> None:
    fact = parse_observation(
        lab(
            code={"coding": [{"system": LOINC, "code": "85354-9"}]},
            valueQuantity=None,
            component=[
                {
                    "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                    "valueQuantity": {"value": 128, "system": UCUM, "code": "mm[Hg]"},
                    "referenceRange": [{"high": {"value": 140, "system": UCUM, "code": "mm[Hg]"}}],
                },
                {
                    "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                    "dataAbsentReason": {"text": "Not measured"},
                },
            ],
        )
    )
    systolic, diastolic = fact.components
    assert systolic.codes == {(LOINC, "8480-6")}
    assert systolic.value.quantity == Quantity(128.0, "mm[Hg]")
    assert systolic.reference_ranges[0].high == Quantity(140.0, "mm[Hg]")
    assert diastolic.value.data_absent_reason == "Not measured"
    assert fact.value.is_empty
    assert fact.problem is None


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"effectivePeriod": {"start": "2026-02-10T10:00:00Z", "end": "2026-02-11T09:00:00Z"}},
            date(2026, 2, 10),
        ),
        ({"effectivePeriod": {"end": "2026-02-11"}}, date(2026, 2, 11)),
        ({"effectiveInstant": "2026-02-12T07:00:00.000-08:00"}, date(2026, 2, 12)),
        # Late evening west of Greenwich: the local day as written, not the UTC day (28th).
        ({"effectiveDateTime": "2026-02-27T23:30:00-05:00"}, date(2026, 2, 27)),
        # Early morning east of Greenwich: not the UTC day (26th) either.
        ({"effectiveDateTime": "2026-02-27T00:30:00+09:00"}, date(2026, 2, 27)),
    ],
)
def test_effective_date_forms(extra: dict[str, Any], expected: date) -> None:
    fact = parse_observation(lab(**{"effectiveDateTime": None, **extra}))
    assert fact.date == expected
    assert fact.problem is None


def test_issued_stands_in_only_without_effective() -> None:
    fact = parse_observation(lab(effectiveDateTime=None))
    assert fact.date == date(2026, 2, 27)
    fact = parse_observation(lab(effectiveDateTime=None, issued="2026-03-01T09:00:00Z"))
    assert fact.date == date(2026, 3, 1)
    assert fact.problem is None


@pytest.mark.parametrize(
    "extra",
    [
        {"effectiveDateTime": "2026-02"},
        {"effectiveDateTime": "2026"},
        {"effectiveDateTime": None, "effectivePeriod": {"start": "2026-02"}},
    ],
)
def test_partial_effective_date_is_a_problem_and_not_replaced_by_issued(
    extra: dict[str, Any],
) -> None:
    fact = parse_observation(lab(**extra))  # `issued` is a full date in lab()
    assert fact.date is None
    assert fact.problem is not None
    assert "effective date is not a full date" in fact.problem


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"valueQuantity": {"value": "about 3", "unit": "10^9/L"}}, "not a number"),
        ({"valueQuantity": {"value": "3,2", "unit": "10^9/L"}}, "not a number"),
        ({"valueQuantity": {"value": "1e999", "unit": "10^9/L"}}, "not a number"),
        ({"valueQuantity": {"value": True}}, "not a number"),
        ({"valueQuantity": {"unit": "10^9/L"}}, "not a number"),
        ({"valueQuantity": {"value": float("nan"), "code": "10*9/L"}}, "not a finite number"),
        ({"valueQuantity": {"value": 1, "comparator": "~"}}, "comparator"),
        ({"valueInteger": 1.5}, "not an integer"),
        ({"valueInteger": "1"}, "not an integer"),
        ({"valueBoolean": "false"}, "not a boolean"),
        ({"valueString": 42}, "not a string"),
        ({"valueCodeableConcept": {"coding": [{"code": "LA9622-7"}]}}, "neither a coding nor text"),
        ({"valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 40}}}, "valueRatio"),
        ({"effectiveDateTime": "27/02/2026"}, "effective date is unreadable"),
        ({"effectiveDateTime": "2026-02-30"}, "not a calendar date"),
        ({"effectiveDateTime": None, "issued": "yesterday"}, "issued date is unreadable"),
        ({"id": None}, "no id"),
        ({"id": 17}, "no id"),
    ],
)
def test_unusable_observation_is_flagged_not_dropped(extra: dict[str, Any], problem: str) -> None:
    # The value[x] under test replaces the lab's valueQuantity.
    values = {"valueQuantity": None} if any(k.startswith("value") for k in extra) else {}
    raw = lab(**{**values, **extra})
    fact = parse_observation(raw)
    assert fact.problem is not None
    assert problem in fact.problem
    # Everything else that could be read still is.
    assert fact.codes == {(LOINC, "751-8"), (LOCAL_LAB, "1558")}


def test_component_problem_is_named() -> None:
    fact = parse_observation(
        lab(
            component=[
                {
                    "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                    "valueQuantity": {"value": "high"},
                }
            ]
        )
    )
    assert fact.problem is not None
    assert fact.problem.startswith("component:")


def test_garbage_shapes_never_raise() -> None:
    fact = parse_observation(
        {
            "resourceType": "Observation",
            "id": "x",
            "status": ["final"],
            "code": "751-8",
            "effectivePeriod": "2026-02-01",
            "referenceRange": {"high": 1},
            "component": [None, 3, {"code": []}],
            "interpretation": "H",
        }
    )
    assert fact.status is None
    assert fact.codes == frozenset()
    assert fact.reference_ranges == ()
    assert len(fact.components) == 3
    assert fact.date is None


def test_parse_observation_from_json_text() -> None:
    # Exactly as it arrives on the wire (json module, as the CLI reads it).
    raw = json.loads(
        """{"resourceType": "Observation", "id": "plt", "status": "amended",
            "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"},
                                {"system": "http://loinc.org", "code": "26515-7"}]},
            "effectiveDateTime": "2026-02-20",
            "valueQuantity": {"value": 245, "unit": "x10E3/uL"}}"""
    )
    fact = parse_observation(raw)
    assert fact.codes == {(LOINC, "777-3"), (LOINC, "26515-7")}
    assert fact.status == "amended"
    assert fact.value.quantity == Quantity(245.0, "x10E3/uL")
    assert type(fact.value.quantity.value) is float


# --------------------------------------------------------------------------- dates
@pytest.mark.parametrize(
    ("raw", "value", "precision"),
    [
        ("2026-02-20", date(2026, 2, 20), "day"),
        ("2026-02-20T08:30:00Z", date(2026, 2, 20), "day"),
        ("2026-02-20T08:30:00.123456+05:30", date(2026, 2, 20), "day"),
        ("2026-02-20T23:59:60-14:00", date(2026, 2, 20), "day"),  # leap second, far west
        ("2026-02-20T08:30", date(2026, 2, 20), "day"),  # tolerated: no seconds, no zone
        ("2024-02-29", date(2024, 2, 29), "day"),
        ("2026-02", date(2026, 2, 1), "month"),
        ("1950", date(1950, 1, 1), "year"),
    ],
)
def test_fhir_dates(raw: str, value: date, precision: str) -> None:
    parsed = parse_date(raw)
    assert (parsed.value, parsed.precision, parsed.reason) == (value, precision, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("20260220", "not a FHIR date"),  # basic ISO format is not FHIR: not the year 2026
        ("2026-02-20garbage", "not a FHIR date"),
        ("2026-02-20 08:30:00", "not a FHIR date"),
        ("2026-02-20T25:00:00Z", "not a FHIR date"),
        ("2026-02-20T08:30:00+15:00", "not a FHIR date"),
        ("26-02-20", "not a FHIR date"),
        ("2026-W08-5", "not a FHIR date"),
        ("", "not a FHIR date"),
        ("2026-02-30", "not a calendar date"),
        ("2025-02-29", "not a calendar date"),
        ("2026-13", "not a calendar date"),
        ("0000-01-01", "not a calendar date"),
        (20260220, "not a string"),
        ({"value": "2026-02-20"}, "not a string"),
    ],
)
def test_unreadable_dates_give_a_reason(raw: object, reason: str) -> None:
    parsed = parse_date(raw)
    assert parsed.value is None
    assert parsed.precision is None
    assert parsed.reason is not None
    assert reason in parsed.reason


def test_absent_date_has_no_reason() -> None:
    assert parse_date(None) == (None, None, None)


def test_choice_versus_alternatives() -> None:
    # effective[x]: the element present decides, even when a later candidate is fine.
    assert first_present_date(None, "2026-02", "2026-02-20") == (
        None,
        "is not a full date ('2026-02', precision month)",
    )
    assert first_present_date(None, None) == (None, None)
    # onset then recordedDate: a partial onset is passed over, with the reason kept.
    when, why = first_full_date("2019", "2026-01-05")
    assert when == date(2026, 1, 5)
    assert why == "is not a full date ('2019', precision year)"
    assert first_full_date("2026-01-05", "junk") == (date(2026, 1, 5), None)


@pytest.mark.parametrize(
    ("text", "value", "digits"), [("3.2", 3.2, 2), ("3.20", 3.2, 3), ("-1", -1, 1)]
)
def test_a_quantity_value_sent_as_a_decimal_string_is_read(
    text: str, value: float, digits: int
) -> None:
    # Invalid FHIR JSON some interfaces send; only one number can be meant.
    fact = parse_observation(lab(valueQuantity={"value": text, "unit": "10^9/L"}))
    assert fact.problem is None
    assert fact.value.quantity is not None
    assert (fact.value.quantity.value, fact.value.quantity.precision) == (value, digits)
