"""The Observation reader's edges the other tests leave open: a value sent together with a
dataAbsentReason (of every value type), the exact reason for a missing id, the length at
which an odd value is shortened in a reason, and the full-date fast path of effective[x]
against the general path (effectivePeriod, effectiveInstant) for the same moment."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.facts import LOINC, UCUM, ObservationValue, Quantity
from fhir_mappings.observations import parse_observation
from fhir_mappings.reading import DICOM, refine_observation
from fhir_mappings.record import build_record
from tests.unit.test_engine_rules import ANC_RULE, AS_OF, run
from tests.unit.test_engine_rules import TERMINOLOGY as TERMS
from tests.unit.test_observations import lab
from tests.unit.test_reader_reading_edges import PATIENT

ABSENT = {"coding": [{"code": "error", "display": "Error"}], "text": "Analyser error"}


# --------------------------------------------------------------------------- value + absent
@pytest.mark.parametrize(
    "value",
    [
        {"valueQuantity": {"value": 3.2, "system": UCUM, "code": "10*9/L"}},
        {"valueCodeableConcept": {"text": "Normal"}},
        {"valueInteger": 1},
        {"valueBoolean": True},
        {"valueString": "3.2"},
    ],
)
def test_a_value_sent_with_a_data_absent_reason_keeps_the_reason(value: dict[str, Any]) -> None:
    # FHIR forbids both together; when a feed sends both, the reason must not be lost, or
    # the value would be read as if the lab had vouched for it.
    fact = parse_observation(lab(**{"valueQuantity": None, **value, "dataAbsentReason": ABSENT}))
    assert fact.value.data_absent_reason == "Analyser error"
    assert not fact.value.is_empty


def test_a_quantity_with_a_data_absent_reason_decides_nothing() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-05-01"}
    result = lab(
        effectiveDateTime=f"{AS_OF.isoformat()}T08:00:00+01:00",
        subject={"reference": "Patient/p1"},
        dataAbsentReason=ABSENT,
    )
    outcome = run(ANC_RULE, build_record([patient, result]))
    assert outcome.status == "unknown"
    assert "Observation/anc-1 is unusable (data absent: Analyser error)" in outcome.reason
    plain = run(ANC_RULE, build_record([patient, {**result, "dataAbsentReason": None}]))
    assert plain.status == "met"


# --------------------------------------------------------------------------- id
@pytest.mark.parametrize("rid", [None, "", 17, ["a"]])
def test_no_id_gives_the_placeholder_reference_and_its_reason(rid: Any) -> None:
    fact = parse_observation(lab(id=rid))  # None: no id element at all
    assert fact.ref == "Observation/(no id)"
    assert fact.problem == "the resource has no id"


def test_every_problem_is_named_in_one_reason() -> None:
    fact = parse_observation(
        lab(id=None, effectiveDateTime="2026-02", valueQuantity=None, valueInteger="1")
    )
    assert fact.problem == (
        "the resource has no id; effective date is not a full date ('2026-02', precision month)"
        "; valueInteger '1' is not an integer"
    )


# --------------------------------------------------------------------------- shortened values
@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (38, "'" + "7" * 38 + "'"),  # repr 40 characters: shown whole
        (39, "'" + "7" * 36 + "..."),  # repr 41 characters: shortened to 40
    ],
)
def test_an_odd_value_is_shown_whole_up_to_forty_characters(size: int, shown: str) -> None:
    fact = parse_observation(lab(valueQuantity=None, valueInteger="7" * size))
    assert fact.problem == f"valueInteger {shown} is not an integer"


# --------------------------------------------------------------------------- effective[x]
MOMENT = "2026-02-27T08:15:30+01:00"


@pytest.mark.parametrize(
    "effective",
    [
        {"effectiveDateTime": MOMENT},
        {"effectivePeriod": {"start": MOMENT}},
        {"effectivePeriod": {"start": MOMENT, "end": "2026-02-27T09:00:00+01:00"}},
        {"effectiveInstant": MOMENT},
    ],
)
def test_every_effective_element_gives_the_same_date_and_time(effective: dict[str, Any]) -> None:
    fact = parse_observation(lab(**{"effectiveDateTime": None, **effective}))
    assert fact.date == date(2026, 2, 27)
    assert fact.time is not None
    assert (fact.time.hour, fact.time.minute, fact.time.second) == (8, 15, 30)
    assert fact.problem is None


@pytest.mark.parametrize(
    ("effective", "problem"),
    [
        ("2026-02", "effective date is not a full date ('2026-02', precision month)"),
        ("2026", "effective date is not a full date ('2026', precision year)"),
        ("2026-02-30", "effective date is unreadable (date '2026-02-30' is not a calendar date)"),
        (
            # The time part is well formed, but it belongs to no date: no time is read.
            "2026-02-30T08:15:00Z",
            "effective date is unreadable (date '2026-02-30T08:15:00Z' is not a calendar date)",
        ),
        (
            "2026-02-27T25:00:00Z",
            "effective date is unreadable "
            "(date '2026-02-27T25:00:00Z' is not a FHIR date or dateTime)",
        ),
        (20260227, "effective date is unreadable (date 20260227 is not a string)"),
    ],
)
def test_an_effective_date_that_is_not_full_is_not_replaced_by_issued(
    effective: Any, problem: str
) -> None:
    fact = parse_observation(lab(effectiveDateTime=effective))
    assert (fact.date, fact.time) == (None, None)
    assert fact.problem == problem


def test_a_full_effective_date_wins_over_a_period_and_issued() -> None:
    fact = parse_observation(
        lab(
            effectiveDateTime="2026-02-20",
            effectivePeriod={"start": "2026-02-10T08:00:00Z"},
            issued="2026-02-27T11:02:31Z",
        )
    )
    assert (fact.date, fact.time, fact.problem) == (date(2026, 2, 20), None, None)


def test_without_effective_the_issued_date_stands_in_without_a_time() -> None:
    fact = parse_observation(lab(effectiveDateTime=None, issued="2026-02-27T11:02:31Z"))
    assert (fact.date, fact.time, fact.problem) == (date(2026, 2, 27), None, None)


def test_a_period_with_only_an_end_gives_its_date_without_a_time() -> None:
    fact = parse_observation(
        lab(effectiveDateTime=None, effectivePeriod={"end": "2026-02-27T09:00:00+01:00"})
    )
    assert (fact.date, fact.time, fact.problem) == (date(2026, 2, 27), None, None)


def test_no_time_is_read_from_an_element_that_did_not_give_the_date() -> None:
    # Two effective[x] elements (invalid, but sent): the date comes from the period's end,
    # and the unreadable instant beside it lends no time of day to order the result by.
    fact = parse_observation(
        lab(
            effectiveDateTime=None,
            effectivePeriod={"end": "2026-02-27"},
            effectiveInstant="2026-02-30T08:15:00Z",
        )
    )
    assert (fact.date, fact.time) == (date(2026, 2, 27), None)


# --------------------------------------------------------------------------- category
def test_the_category_is_read_and_can_name_the_modality() -> None:
    imaging = lab(
        code={"text": "Tumour distance from the anal verge"},
        category=[{"coding": [{"system": DICOM, "code": "MR"}]}],
        valueQuantity={"value": 6, "system": UCUM, "code": "cm"},
    )
    fact = parse_observation(imaging)
    assert fact.category == {(DICOM, "MR")}
    assert refine_observation(fact, TERMS, PATIENT).modality == "MR"
    uncategorised = parse_observation({**imaging, "category": None})
    assert uncategorised.category == frozenset()
    assert refine_observation(uncategorised, TERMS, PATIENT).modality is None


# --------------------------------------------------------------------------- components
def test_an_unreadable_component_value_is_empty_and_named() -> None:
    fact = parse_observation(
        lab(
            valueQuantity=None,
            component=[
                {
                    "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                    "valueInteger": 1.5,
                },
                {
                    "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                    "valueQuantity": {"value": 80, "system": UCUM, "code": "mm[Hg]"},
                },
            ],
        )
    )
    bad, good = fact.components
    assert bad.value == ObservationValue()
    assert bad.codes == {(LOINC, "8480-6")}
    assert good.value.quantity == Quantity(80.0, "mm[Hg]")
    assert fact.problem == "component: valueInteger 1.5 is not an integer"


def test_a_null_quantity_is_named_not_read_as_no_value() -> None:
    # JSON null is not valid FHIR; read as "no value" it would drop the result in silence.
    fact = parse_observation({**lab(), "valueQuantity": None})
    assert fact.problem == "valueQuantity is null"
    assert fact.value.is_empty
