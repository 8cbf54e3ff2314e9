"""The Procedure reader at every edge: every status, performed[x] (date time, period start,
period end; word-for-word reasons), body sites, codings, no id."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.facts import ProcedureFact
from fhir_mappings.procedures import parse_procedure

SNOMED = "http://snomed.info/sct"
COLECTOMY = (SNOMED, "23968004")
COLON = (SNOMED, "71854001")
STATUSES = [
    "preparation",
    "in-progress",
    "not-done",
    "on-hold",
    "stopped",
    "completed",
    "entered-in-error",
    "unknown",
]


def procedure(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": "pr1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": SNOMED, "code": COLECTOMY[1], "display": "Colectomy"}]},
        **fields,
    }


def test_a_complete_procedure() -> None:
    fact = parse_procedure(
        procedure(
            performedDateTime="2025-11-03T10:00:00+01:00",
            bodySite=[{"coding": [{"system": SNOMED, "code": COLON[1]}]}],
        )
    )
    assert fact == ProcedureFact(
        ref="Procedure/pr1",
        codes=frozenset({COLECTOMY}),
        status="completed",
        date=date(2025, 11, 3),
        body_sites=frozenset({COLON}),
        display="Colectomy",
        problem=None,
    )


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_is_kept_as_given(status: str) -> None:
    assert parse_procedure(procedure(status=status)).status == status


@pytest.mark.parametrize("status", [None, 1, ["completed"]])
def test_a_status_that_is_not_a_string_is_none(status: object) -> None:
    assert parse_procedure(procedure(status=status)).status is None


@pytest.mark.parametrize(
    ("fields", "when"),
    [
        ({"performedDateTime": "2025-11-03"}, date(2025, 11, 3)),
        ({"performedPeriod": {"start": "2025-11-03", "end": "2025-11-05"}}, date(2025, 11, 3)),
        ({"performedPeriod": {"end": "2025-11-05T12:00:00Z"}}, date(2025, 11, 5)),
        (
            {"performedDateTime": "2025-11-01", "performedPeriod": {"start": "2025-11-03"}},
            date(2025, 11, 1),
        ),
        ({"performedPeriod": "2025-11-03"}, None),
        ({"performedString": "last year"}, None),
        ({}, None),
    ],
)
def test_performed_date(fields: dict[str, Any], when: date | None) -> None:
    fact = parse_procedure(procedure(**fields))
    assert (fact.date, fact.problem) == (when, None)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"performedDateTime": "2025-11", "performedPeriod": {"start": "2025-11-03"}},
            "performed date is not a full date ('2025-11', precision month)",
        ),
        (
            {"performedPeriod": {"start": "2025", "end": "2025-11-05"}},
            "performed date is not a full date ('2025', precision year)",
        ),
        (
            {"performedPeriod": {"end": "05.11.2025"}},
            "performed date is unreadable (date '05.11.2025' is not a FHIR date or dateTime)",
        ),
    ],
)
def test_only_the_present_element_decides(fields: dict[str, Any], problem: str) -> None:
    fact = parse_procedure(procedure(**fields))
    assert (fact.date, fact.problem) == (None, problem)


def test_codes_text_only_and_body_sites() -> None:
    fact = parse_procedure(
        procedure(
            code={
                "coding": [
                    {"system": "urn:oid:2.16.840.1.113883.6.96", "code": COLECTOMY[1]},
                    {"system": "http://fhir.de/CodeSystem/bfarm/ops", "code": "5-455.41"},
                ]
            },
            bodySite=[
                {"coding": [{"system": SNOMED, "code": COLON[1]}]},
                {"text": "sigmoid"},
                {"coding": [{"system": "https://snomed.info/sct", "code": "60184004"}]},
            ],
        )
    )
    assert fact.codes == {COLECTOMY, ("http://fhir.de/CodeSystem/bfarm/ops", "5-455.41")}
    assert fact.body_sites == {COLON, (SNOMED, "60184004")}
    assert fact.display is None
    text_only = parse_procedure(procedure(code={"text": "Hemicolectomy"}))
    assert (text_only.codes, text_only.display) == (frozenset(), "Hemicolectomy")


@pytest.mark.parametrize("rid", [None, "", 9])
def test_a_procedure_without_an_id(rid: object) -> None:
    resource = procedure(performedDateTime="2025")
    if rid is None:
        del resource["id"]
    else:
        resource["id"] = rid
    fact = parse_procedure(resource)
    assert fact.ref == "Procedure/(no id)"
    assert fact.problem == (
        "the resource has no id; performed date is not a full date ('2025', precision year)"
    )


def test_not_a_resource_at_all() -> None:
    fact = parse_procedure(None)  # type: ignore[arg-type]
    assert fact == ProcedureFact(
        ref="Procedure/(no id)",
        codes=frozenset(),
        status=None,
        date=None,
        problem="the resource has no id",
    )
