"""The DiagnosticReport reader at every edge: every status, effective[x] against issued
(word-for-word reasons), time of day, conclusions, result references, no id."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest

from fhir_mappings.facts import DiagnosticReportFact
from fhir_mappings.reports import parse_report

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
MRI: tuple[str, str] = (LOINC, "30651-4")
STATUSES = [
    "registered",
    "partial",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "appended",
    "cancelled",
    "entered-in-error",
    "unknown",
]


def report(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": MRI[0], "code": MRI[1], "display": "MRI pelvis"}]},
        **fields,
    }


def test_a_complete_report() -> None:
    fact = parse_report(
        report(
            effectiveDateTime="2026-02-10T09:15:00+01:00",
            issued="2026-02-11T10:00:00Z",
            conclusion="No metastases.",
            conclusionCode=[{"coding": [{"system": SNOMED, "code": "260415000"}]}],
            result=[
                {"reference": "Observation/o1"},
                {"reference": "https://x/fhir/Observation/o2"},
            ],
            category=[{"coding": [{"system": DICOM, "code": "MR"}]}],
        )
    )
    assert fact == DiagnosticReportFact(
        ref="DiagnosticReport/r1",
        codes=frozenset({MRI}),
        status="final",
        date=date(2026, 2, 10),
        conclusion="No metastases.",
        conclusion_codes=frozenset({(SNOMED, "260415000")}),
        result_refs=("Observation/o1", "Observation/o2"),
        display="MRI pelvis",
        problem=None,
        time=time(9, 15),
        modality=None,
        category=frozenset({(DICOM, "MR")}),
    )


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_is_kept_as_given(status: str) -> None:
    assert parse_report(report(status=status, issued="2026-02-11")).status == status


@pytest.mark.parametrize("status", [None, 3, {"code": "final"}])
def test_a_status_that_is_not_a_string_is_none(status: object) -> None:
    assert parse_report(report(status=status)).status is None


@pytest.mark.parametrize(
    ("fields", "when", "at"),
    [
        ({"effectiveDateTime": "2026-02-10T09:15:30Z"}, date(2026, 2, 10), time(9, 15, 30)),
        ({"effectiveDateTime": "2026-02-10"}, date(2026, 2, 10), None),
        ({"effectivePeriod": {"start": "2026-02-10T08:00:00Z"}}, date(2026, 2, 10), time(8, 0)),
        (
            {"effectivePeriod": {"start": "2026-02-10", "end": "2026-02-12T10:00:00Z"}},
            date(2026, 2, 10),
            None,
        ),
        (
            {"effectivePeriod": {"end": "2026-02-12T10:00:00Z"}},
            date(2026, 2, 12),
            None,  # the end gives the day, not a time of the study
        ),
        ({"issued": "2026-02-11T10:00:00Z"}, date(2026, 2, 11), None),
        (
            {"effectiveDateTime": "2026-02-10T07:00:00Z", "issued": "2026-02-11T10:00:00Z"},
            date(2026, 2, 10),
            time(7, 0),
        ),
        (
            {
                "effectiveDateTime": "2026-02-10T07:00:00Z",
                "effectivePeriod": {"start": "2026-02-09T06:00:00Z"},
            },
            date(2026, 2, 10),
            time(7, 0),
        ),
    ],
)
def test_effective_then_issued(fields: dict[str, Any], when: date, at: time | None) -> None:
    fact = parse_report(report(**fields))
    assert (fact.date, fact.time, fact.problem) == (when, at, None)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"effectiveDateTime": "2026-02", "issued": "2026-02-11T10:00:00Z"},
            "effective date is not a full date ('2026-02', precision month)",
        ),
        (
            {"effectivePeriod": {"start": "2026"}, "issued": "2026-02-11"},
            "effective date is not a full date ('2026', precision year)",
        ),
        (
            {"issued": "11.02.2026"},
            "issued date is unreadable (date '11.02.2026' is not a FHIR date or dateTime)",
        ),
        ({"issued": "2026-02"}, "issued date is not a full date ('2026-02', precision month)"),
    ],
)
def test_a_date_that_is_not_full_is_named_and_not_replaced(
    fields: dict[str, Any], problem: str
) -> None:
    fact = parse_report(report(**fields))
    assert (fact.date, fact.time, fact.problem) == (None, None, problem)


def test_no_date_at_all_is_no_problem_of_the_reader() -> None:
    fact = parse_report(report())
    assert (fact.date, fact.time, fact.problem) == (None, None, None)


def test_a_partial_effective_with_a_time_in_the_period_has_no_time() -> None:
    fact = parse_report(
        report(effectiveDateTime="2026-02", effectivePeriod={"start": "2026-02-10T08:00:00Z"})
    )
    assert (fact.date, fact.time) == (None, None)


@pytest.mark.parametrize(
    ("conclusion", "expected"),
    [("Tumour regression.", "Tumour regression."), ("", None), (None, None), (5, None)],
)
def test_conclusion_text(conclusion: object, expected: str | None) -> None:
    assert parse_report(report(conclusion=conclusion)).conclusion == expected


def test_result_references_skip_what_is_not_a_reference() -> None:
    fact = parse_report(
        report(
            result=[
                {"reference": "Observation/o1"},
                {"display": "Haemoglobin"},
                {"reference": ""},
                "Observation/o3",
                {"reference": "Observation/o4/_history/2"},
            ]
        )
    )
    assert fact.result_refs == ("Observation/o1", "Observation/o4")
    assert parse_report(report(result={"reference": "Observation/o1"})).result_refs == ()


def test_codes_text_only_and_alternative_codings() -> None:
    fact = parse_report(
        report(
            code={
                "coding": [
                    {"system": "urn:oid:2.16.840.1.113883.6.1", "code": "30651-4"},
                    {"system": "http://hospital.example/rad", "code": "MRPEL"},
                ],
                "text": "MR Becken",
            }
        )
    )
    assert fact.codes == {MRI, ("http://hospital.example/rad", "MRPEL")}
    assert fact.display == "MR Becken"
    text_only = parse_report(report(code={"text": "MRI pelvis"}))
    assert (text_only.codes, text_only.display) == (frozenset(), "MRI pelvis")
    no_code = parse_report(report(code=None))
    assert (no_code.codes, no_code.display) == (frozenset(), None)


@pytest.mark.parametrize("rid", [None, "", 4])
def test_a_report_without_an_id(rid: object) -> None:
    resource = report(effectiveDateTime="2026")
    if rid is None:
        del resource["id"]
    else:
        resource["id"] = rid
    fact = parse_report(resource)
    assert fact.ref == "DiagnosticReport/(no id)"
    assert fact.problem == (
        "the resource has no id; effective date is not a full date ('2026', precision year)"
    )


def test_not_a_resource_at_all() -> None:
    fact = parse_report("DiagnosticReport/r1")  # type: ignore[arg-type]
    assert fact == DiagnosticReportFact(
        ref="DiagnosticReport/(no id)",
        codes=frozenset(),
        status=None,
        date=None,
        problem="the resource has no id",
    )


def test_an_empty_effective_date_time_gives_no_time_from_the_period() -> None:
    # "" is present (and unreadable): it decides the date, and a report without a date
    # has no time of day either, not the period's.
    fact = parse_report(
        report(effectiveDateTime="", effectivePeriod={"start": "2026-02-10T08:00:00Z"})
    )
    assert (fact.date, fact.time) == (None, None)
    assert fact.problem == ("effective date is unreadable (date '' is not a FHIR date or dateTime)")
