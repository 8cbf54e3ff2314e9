"""The Condition reader at every edge: every clinical and verification status (HL7 coding
over local ones), ICD-10-GM certainty markers against the status, onset alternatives and
their reasons, histology, profiles, codings, no id."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.conditions import (
    CLINICAL_STATUS_SYSTEM,
    HISTOLOGY_EXTENSION,
    ICD10GM_CERTAINTY,
    VERIFICATION_STATUS_SYSTEM,
    parse_condition,
)
from fhir_mappings.facts import ConditionFact

SNOMED = "http://snomed.info/sct"
ICD10GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
LOCAL = "http://hospital.example/problem-status"
COLON_CANCER = (SNOMED, "363406005")
CLINICAL = ["active", "recurrence", "relapse", "inactive", "remission", "resolved"]
VERIFICATION = [
    ("unconfirmed", True),
    ("provisional", True),
    ("differential", True),
    ("confirmed", False),
    ("refuted", False),
    ("entered-in-error", False),
]


def condition(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "code": {
            "coding": [{"system": SNOMED, "code": COLON_CANCER[1], "display": "Colon cancer"}]
        },
        **fields,
    }


def status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def icd10gm(
    code: str, certainty: Any, url: str = ICD10GM_CERTAINTY, key: str = "valueCode"
) -> dict[str, Any]:
    return {
        "coding": [
            {
                "system": ICD10GM,
                "code": code,
                "extension": [{"url": url, key: certainty}],
            }
        ]
    }


def test_a_complete_condition() -> None:
    fact = parse_condition(
        condition(
            clinicalStatus=status(CLINICAL_STATUS_SYSTEM, "active"),
            verificationStatus=status(VERIFICATION_STATUS_SYSTEM, "confirmed"),
            onsetDateTime="2025-06-01T00:00:00+02:00",
            bodySite=[{"coding": [{"system": SNOMED, "code": "71854001"}]}],
            category=[
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            meta={
                "profile": [
                    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition",
                    5,
                ]
            },
            extension=[
                {
                    "url": HISTOLOGY_EXTENSION,
                    "valueCodeableConcept": {"coding": [{"system": ICDO3, "code": "8140/3"}]},
                },
                {
                    "url": "http://example.org/other",
                    "valueCodeableConcept": {"coding": [{"system": ICDO3, "code": "9999/3"}]},
                },
            ],
        )
    )
    assert fact == ConditionFact(
        ref="Condition/c1",
        codes=frozenset({COLON_CANCER}),
        clinical_status="active",
        verification_status="confirmed",
        date=date(2025, 6, 1),
        body_sites=frozenset({(SNOMED, "71854001")}),
        histology=frozenset({(ICDO3, "8140/3")}),
        profiles=frozenset(
            {"http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"}
        ),
        category=frozenset(
            {("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")}
        ),
        display="Colon cancer",
        problem=None,
        suspected=False,
        status_post=False,
    )


@pytest.mark.parametrize("code", CLINICAL)
def test_every_clinical_status(code: str) -> None:
    fact = parse_condition(condition(clinicalStatus=status(CLINICAL_STATUS_SYSTEM, code)))
    assert fact.clinical_status == code


@pytest.mark.parametrize(("code", "suspected"), VERIFICATION)
def test_every_verification_status(code: str, suspected: bool) -> None:
    fact = parse_condition(condition(verificationStatus=status(VERIFICATION_STATUS_SYSTEM, code)))
    assert (fact.verification_status, fact.suspected, fact.status_post) == (code, suspected, False)


def test_the_hl7_coding_wins_over_a_local_one_listed_first() -> None:
    fact = parse_condition(
        condition(
            clinicalStatus={
                "coding": [
                    {"system": LOCAL, "code": "A"},
                    {"system": CLINICAL_STATUS_SYSTEM, "code": ""},
                    {"system": CLINICAL_STATUS_SYSTEM, "code": "resolved"},
                ]
            },
            verificationStatus={
                "coding": [
                    {"system": LOCAL, "code": "OK"},
                    {"system": VERIFICATION_STATUS_SYSTEM, "code": "entered-in-error"},
                ]
            },
        )
    )
    assert (fact.clinical_status, fact.verification_status) == ("resolved", "entered-in-error")


def test_a_status_in_the_other_system_is_not_taken() -> None:
    fact = parse_condition(
        condition(
            clinicalStatus={
                "coding": [
                    {"system": VERIFICATION_STATUS_SYSTEM, "code": "refuted"},
                    {"system": CLINICAL_STATUS_SYSTEM, "code": "active"},
                ]
            },
            verificationStatus={
                "coding": [
                    {"system": CLINICAL_STATUS_SYSTEM, "code": "active"},
                    {"system": VERIFICATION_STATUS_SYSTEM, "code": "provisional"},
                ]
            },
        )
    )
    assert (fact.clinical_status, fact.verification_status, fact.suspected) == (
        "active",
        "provisional",
        True,
    )


@pytest.mark.parametrize(
    ("concept", "clinical", "verification", "suspected"),
    [
        # A local code that is no FHIR status: no clinical status, and a verification
        # status that may be "refuted" or "entered in error", so never read as confirmed.
        (
            {"coding": [{"system": LOCAL, "code": "A"}]},
            None,
            "'A', not a FHIR verification status",
            True,
        ),
        (
            {"coding": [{"system": LOCAL, "code": 1}, {"code": "B"}]},
            None,
            "'B', not a FHIR verification status",
            True,
        ),
        ({"text": "Entered in error"}, None, "entered-in-error", False),
        (
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "unknown",
                    }
                ]
            },
            None,
            "'unknown', not a FHIR verification status",
            True,
        ),
        (
            {"coding": [{"system": LOCAL, "code": "R", "display": "Resolved"}]},
            "resolved",
            "'R', not a FHIR verification status",
            True,
        ),
        ({"text": "active"}, "active", "'active', not a FHIR verification status", True),
        (None, None, None, False),
    ],
)
def test_a_status_without_the_hl7_coding(
    concept: Any, clinical: str | None, verification: str | None, suspected: bool
) -> None:
    fact = parse_condition(condition(clinicalStatus=concept, verificationStatus=concept))
    assert (fact.clinical_status, fact.verification_status) == (clinical, verification)
    assert fact.suspected is suspected


@pytest.mark.parametrize(
    ("certainty", "verification", "expected_status", "suspected", "status_post"),
    [
        ("G", None, None, False, False),
        ("V", None, None, True, False),
        ("v ", None, None, True, False),
        ("A", None, "refuted", False, False),
        ("A", "refuted", "refuted", False, False),
        ("A", "confirmed", "confirmed", True, False),  # contradicts the status: suspect
        ("V", "confirmed", "confirmed", True, False),
        ("G", "provisional", "provisional", True, False),
        ("Z", None, None, False, True),
        ("Z", "confirmed", "confirmed", False, True),
        ("X", None, None, False, False),
    ],
)
def test_icd10gm_certainty_against_the_status(
    certainty: str,
    verification: str | None,
    expected_status: str | None,
    suspected: bool,
    status_post: bool,
) -> None:
    fields: dict[str, Any] = {"code": icd10gm("C18.0", certainty)}
    if verification is not None:
        fields["verificationStatus"] = status(VERIFICATION_STATUS_SYSTEM, verification)
    fact = parse_condition(condition(**fields))
    assert (fact.verification_status, fact.suspected, fact.status_post) == (
        expected_status,
        suspected,
        status_post,
    )
    assert fact.codes == {(ICD10GM, "C18.0")}


@pytest.mark.parametrize(
    ("url", "key", "value", "suspected"),
    [
        (ICD10GM_CERTAINTY, "valueCode", "V", True),
        (ICD10GM_CERTAINTY.replace("http://", "https://"), "valueCode", "V", True),
        (ICD10GM_CERTAINTY, "valueCoding", {"code": "V"}, True),
        (ICD10GM_CERTAINTY, "valueCoding", {"code": 5}, False),
        (ICD10GM_CERTAINTY, "valueCode", 5, False),
        (ICD10GM_CERTAINTY + "-other", "valueCode", "V", False),
        (5, "valueCode", "V", False),
    ],
)
def test_the_certainty_extension_forms(url: Any, key: str, value: Any, suspected: bool) -> None:
    fact = parse_condition(condition(code=icd10gm("C18.0", value, url, key)))
    assert fact.suspected is suspected


def test_a_value_code_wins_over_a_value_coding() -> None:
    code = {
        "coding": [
            {
                "system": ICD10GM,
                "code": "C18.0",
                "extension": [
                    {"url": ICD10GM_CERTAINTY, "valueCode": "Z", "valueCoding": {"code": "V"}},
                    "not an extension",
                ],
            }
        ]
    }
    fact = parse_condition(condition(code=code))
    assert (fact.suspected, fact.status_post) == (False, True)


def test_markers_of_several_codings_all_count() -> None:
    code = {
        "coding": [
            {
                "system": ICD10GM,
                "code": "C18.0",
                "extension": [{"url": ICD10GM_CERTAINTY, "valueCode": "Z"}],
            },
            {
                "system": ICD10GM,
                "code": "C78.7",
                "extension": [{"url": ICD10GM_CERTAINTY, "valueCode": "V"}],
            },
        ]
    }
    fact = parse_condition(condition(code=code))
    assert (fact.suspected, fact.status_post) == (True, True)


@pytest.mark.parametrize(
    ("fields", "when"),
    [
        ({"onsetDateTime": "2025-06-01"}, date(2025, 6, 1)),
        ({"onsetPeriod": {"start": "2025-06-02"}}, date(2025, 6, 2)),
        ({"recordedDate": "2025-06-03"}, date(2025, 6, 3)),
        ({"onsetDateTime": "2025", "recordedDate": "2025-06-03"}, date(2025, 6, 3)),
        (
            {
                "onsetDateTime": "2025-06-01",
                "onsetPeriod": {"start": "2025-06-02"},
                "recordedDate": "2025-06-03",
            },
            date(2025, 6, 1),
        ),
        ({"onsetPeriod": {"start": "2025-06-02"}, "recordedDate": "2025-06-03"}, date(2025, 6, 2)),
        ({"onsetPeriod": {"end": "2025-06-02"}, "recordedDate": "2025-06-03"}, date(2025, 6, 3)),
        ({"onsetString": "childhood"}, None),
        ({}, None),
    ],
)
def test_onset_then_recorded_date(fields: dict[str, Any], when: date | None) -> None:
    fact = parse_condition(condition(**fields))
    assert (fact.date, fact.problem) == (when, None)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"onsetDateTime": "2025"}, "onset date is not a full date ('2025', precision year)"),
        (
            {"onsetPeriod": {"start": "2025-02-30"}, "recordedDate": "2025-06"},
            "onset date is unreadable (date '2025-02-30' is not a calendar date)",
        ),
    ],
)
def test_no_full_date_names_the_first_bad_one(fields: dict[str, Any], problem: str) -> None:
    fact = parse_condition(condition(**fields))
    assert (fact.date, fact.problem) == (None, problem)


def test_text_only_and_uncoded_conditions() -> None:
    fact = parse_condition(condition(code={"text": "Colon cancer"}))
    assert (fact.codes, fact.display) == (frozenset(), "Colon cancer")
    bare = parse_condition({"resourceType": "Condition", "id": "c2"})
    assert bare == ConditionFact(
        ref="Condition/c2",
        codes=frozenset(),
        clinical_status=None,
        verification_status=None,
        date=None,
    )


def test_histology_of_several_extensions_and_odd_ones() -> None:
    fact = parse_condition(
        condition(
            extension=[
                {
                    "url": HISTOLOGY_EXTENSION,
                    "valueCodeableConcept": {"coding": [{"system": ICDO3, "code": "8140/3"}]},
                },
                {
                    "url": HISTOLOGY_EXTENSION,
                    "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "35917007"}]},
                },
                {"url": HISTOLOGY_EXTENSION},
                "not an extension",
            ]
        )
    )
    assert fact.histology == {(ICDO3, "8140/3"), (SNOMED, "35917007")}
    assert (
        parse_condition(condition(extension={"url": HISTOLOGY_EXTENSION})).histology == frozenset()
    )


@pytest.mark.parametrize("rid", [None, "", 2])
def test_a_condition_without_an_id(rid: object) -> None:
    resource = condition(onsetDateTime="2025")
    if rid is None:
        del resource["id"]
    else:
        resource["id"] = rid
    fact = parse_condition(resource)
    assert fact.ref == "Condition/(no id)"
    assert (
        fact.problem
        == "the resource has no id; onset date is not a full date ('2025', precision year)"
    )


def test_the_certainty_is_found_after_other_extensions_of_the_coding() -> None:
    code = {
        "coding": [
            {
                "system": ICD10GM,
                "code": "C18.0",
                "extension": [
                    {
                        "url": "http://fhir.de/StructureDefinition/seitenlokalisation",
                        "valueCoding": {"code": "L"},
                    },
                    {"url": ICD10GM_CERTAINTY, "valueCode": "V"},
                ],
            }
        ]
    }
    assert parse_condition(condition(code=code)).suspected is True
