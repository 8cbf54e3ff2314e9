"""The Patient reader at every edge: ids, birth dates of each precision and unreadable
ones (reasons word for word), gender, and every way a death is recorded."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.facts import PatientFact
from fhir_mappings.patient import parse_patient


def patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", **fields}


def test_a_complete_patient() -> None:
    fact = parse_patient(patient(birthDate="1962-05-14", gender="female"))
    assert fact == PatientFact(
        ref="Patient/p1",
        birth_date=date(1962, 5, 14),
        birth_date_precision="day",
        gender="female",
        deceased=False,
        problem=None,
    )


@pytest.mark.parametrize(
    ("value", "birth", "precision"),
    [
        ("1962", date(1962, 1, 1), "year"),
        ("1962-05", date(1962, 5, 1), "month"),
        ("1962-05-14", date(1962, 5, 14), "day"),
        (None, None, None),
    ],
)
def test_birth_dates_keep_their_precision(
    value: str | None, birth: date | None, precision: str | None
) -> None:
    fact = parse_patient(patient(birthDate=value))
    assert (fact.birth_date, fact.birth_date_precision, fact.problem) == (birth, precision, None)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1962-02-30", "birthDate '1962-02-30' is not a calendar date"),
        ("14.05.1962", "birthDate '14.05.1962' is not a FHIR date or dateTime"),
        (19620514, "birthDate 19620514 is not a string"),
        ("", "birthDate '' is not a FHIR date or dateTime"),
    ],
)
def test_unreadable_birth_dates_are_named(value: object, problem: str) -> None:
    fact = parse_patient(patient(birthDate=value))
    assert (fact.birth_date, fact.birth_date_precision, fact.problem) == (None, None, problem)


@pytest.mark.parametrize("rid", [None, "", 5, ["p1"]])
def test_a_patient_without_an_id(rid: object) -> None:
    resource = patient(birthDate="1962-05-14")
    if rid is None:
        del resource["id"]
    else:
        resource["id"] = rid
    fact = parse_patient(resource)
    assert fact.ref == "Patient/(no id)"
    assert fact.problem == "the Patient resource has no id"
    assert fact.birth_date == date(1962, 5, 14)


def test_both_problems_are_named_in_order() -> None:
    fact = parse_patient({"resourceType": "Patient", "birthDate": "1962-13"})
    assert (
        fact.problem == "the Patient resource has no id; birthDate '1962-13' is not a calendar date"
    )


def test_an_id_that_reads_like_the_placeholder_is_its_own_id() -> None:
    assert parse_patient(patient(id="(no id)")).problem == "the Patient resource has no id"
    assert parse_patient(patient(id="no-id")).problem is None


@pytest.mark.parametrize(
    ("gender", "expected"),
    [
        ("male", "male"),
        ("female", "female"),
        ("other", "other"),
        ("unknown", "unknown"),
        (None, None),
        (1, None),
        ({"code": "male"}, None),
    ],
)
def test_gender_as_given_when_it_is_a_string(gender: object, expected: str | None) -> None:
    assert parse_patient(patient(gender=gender)).gender == expected


@pytest.mark.parametrize(
    ("fields", "deceased"),
    [
        ({}, False),
        ({"deceasedBoolean": True}, True),
        ({"deceasedBoolean": False}, False),
        ({"deceasedBoolean": "true"}, False),
        ({"deceasedBoolean": 1}, False),
        ({"deceasedDateTime": "2025-11-02"}, True),
        ({"deceasedDateTime": "2025"}, True),
        ({"deceasedDateTime": "02.11.2025"}, True),  # malformed, still a death
        ({"deceasedDateTime": ""}, True),
        ({"deceasedDateTime": None}, False),
        ({"deceasedDateTime": 2025}, False),
        ({"deceasedBoolean": False, "deceasedDateTime": "2025-11-02"}, True),
    ],
)
def test_deceased(fields: dict[str, Any], deceased: bool) -> None:
    assert parse_patient(patient(**fields)).deceased is deceased


@pytest.mark.parametrize(
    ("fields", "died", "problem"),
    [
        ({"deceasedDateTime": "2025-11-02T10:00:00Z"}, date(2025, 11, 2), None),
        ({"deceasedDateTime": "2025-11"}, date(2025, 11, 1), None),
        ({"deceasedDateTime": "02.11.2025"}, None, None),  # a death, date unreadable
        ({"deceasedBoolean": True}, None, None),
        ({"deceasedBoolean": False}, None, None),
        ({}, None, None),
        # Present but not readable: whether the patient died is unknown, never "no".
        ({"deceasedBoolean": "true"}, None, "deceasedBoolean 'true' is not a boolean"),
        ({"deceasedBoolean": 1}, None, "deceasedBoolean 1 is not a boolean"),
        ({"deceasedDateTime": 2025}, None, "deceasedDateTime 2025 is not a dateTime"),
    ],
)
def test_death_date_and_unreadable_deceased(
    fields: dict[str, Any], died: date | None, problem: str | None
) -> None:
    fact = parse_patient(patient(**fields))
    assert (fact.deceased_date, fact.deceased_problem) == (died, problem)


def test_not_a_resource_at_all() -> None:
    fact = parse_patient("Patient/p1")  # type: ignore[arg-type]
    assert fact == PatientFact(
        ref="Patient/(no id)",
        birth_date=None,
        birth_date_precision=None,
        gender=None,
        deceased=False,
        problem="the Patient resource has no id",
    )
