"""Condition → ConditionFact (mCODE cancer conditions, Epic problem-list entries)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.conditions import HISTOLOGY_EXTENSION, parse_condition
from fhir_mappings.facts import ICD10CM, ICDO3, SNOMED

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
PRIMARY_PROFILE = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"


def rectal_cancer(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Condition",
        "id": "crc",
        "meta": {"profile": [PRIMARY_PROFILE]},
        "extension": [
            {
                "url": HISTOLOGY_EXTENSION,
                "valueCodeableConcept": {
                    "coding": [
                        {"system": ICDO3, "code": "8140/3", "display": "Adenocarcinoma, NOS"},
                        {"system": SNOMED, "code": "35917007", "display": "Adenocarcinoma"},
                    ]
                },
            },
            {"url": "http://example.org/other-extension", "valueString": "ignored"},
        ],
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
        "category": [{"coding": [{"system": CATEGORY, "code": "problem-list-item"}]}],
        "code": {
            "coding": [
                {"system": SNOMED, "code": "363351006", "display": "Malignant neoplasm of rectum"},
                {"system": ICD10CM, "code": "C20", "display": "Malignant neoplasm of rectum"},
            ],
            "text": "Rectal adenocarcinoma",
        },
        "bodySite": [{"coding": [{"system": SNOMED, "code": "34402009", "display": "Rectum"}]}],
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2026-01-12",
        "recordedDate": "2026-01-15T10:20:00-06:00",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def test_mcode_primary_cancer_condition() -> None:
    fact = parse_condition(rectal_cancer())
    assert fact.ref == "Condition/crc"
    assert fact.codes == {(SNOMED, "363351006"), (ICD10CM, "C20")}
    assert fact.clinical_status == "active"
    assert fact.verification_status == "confirmed"
    assert fact.date == date(2026, 1, 12)
    assert fact.body_sites == {(SNOMED, "34402009")}
    assert fact.histology == {(ICDO3, "8140/3"), (SNOMED, "35917007")}
    assert fact.profiles == {PRIMARY_PROFILE}
    assert fact.category == {(CATEGORY, "problem-list-item")}
    assert fact.display == "Rectal adenocarcinoma"
    assert fact.problem is None


def test_histology_only_from_the_mcode_extension() -> None:
    fact = parse_condition(
        rectal_cancer(
            extension=[
                {
                    "url": "http://example.org/morphology",
                    "valueCodeableConcept": {"coding": [{"system": ICDO3, "code": "8140/3"}]},
                }
            ]
        )
    )
    assert fact.histology == frozenset()


def test_standard_status_coding_wins_over_a_local_first_coding() -> None:
    fact = parse_condition(
        rectal_cancer(
            clinicalStatus={
                "coding": [
                    {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.4.698084.10", "code": "1"},
                    {"system": CLINICAL, "code": "inactive"},
                ]
            },
            verificationStatus={
                "coding": [
                    {"system": "urn:local", "code": "R"},
                    {"system": VERIFICATION, "code": "refuted"},
                ]
            },
        )
    )
    assert fact.clinical_status == "inactive"
    assert fact.verification_status == "refuted"


def test_status_without_the_standard_system_uses_the_first_code() -> None:
    fact = parse_condition(
        rectal_cancer(verificationStatus={"coding": [{"code": "entered-in-error"}]})
    )
    assert fact.verification_status == "entered-in-error"


def test_missing_statuses_are_none() -> None:
    fact = parse_condition(rectal_cancer(clinicalStatus=None, verificationStatus=None))
    assert fact.clinical_status is None
    assert fact.verification_status is None


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"onsetDateTime": None, "onsetPeriod": {"start": "2025-11-03T00:00:00Z"}},
            date(2025, 11, 3),
        ),
        ({"onsetDateTime": None}, date(2026, 1, 15)),
        # A partial onset (common: "onset 2019") gives way to recordedDate.
        ({"onsetDateTime": "2019"}, date(2026, 1, 15)),
        ({"onsetDateTime": None, "onsetString": "childhood"}, date(2026, 1, 15)),
    ],
)
def test_condition_date(extra: dict[str, Any], expected: date) -> None:
    fact = parse_condition(rectal_cancer(**extra))
    assert fact.date == expected
    assert fact.problem is None


def test_no_full_date_at_all_is_named() -> None:
    fact = parse_condition(rectal_cancer(onsetDateTime="2019-06", recordedDate=None))
    assert fact.date is None
    assert fact.problem == "onset date is not a full date ('2019-06', precision month)"


def test_undated_condition_has_no_problem() -> None:
    fact = parse_condition(rectal_cancer(onsetDateTime=None, recordedDate=None))
    assert fact.date is None
    assert fact.problem is None


def test_condition_without_id_is_flagged() -> None:
    fact = parse_condition(rectal_cancer(id=None))
    assert fact.problem is not None
    assert "no id" in fact.problem
    assert fact.codes == {(SNOMED, "363351006"), (ICD10CM, "C20")}


def test_garbage_shapes_never_raise() -> None:
    fact = parse_condition(
        {
            "resourceType": "Condition",
            "id": "g",
            "code": [{"coding": [{"system": ICD10CM, "code": "C20"}]}],
            "clinicalStatus": "active",
            "verificationStatus": {"coding": {"code": "confirmed"}},
            "extension": {"url": HISTOLOGY_EXTENSION},
            "meta": {"profile": PRIMARY_PROFILE},
            "onsetDateTime": 2019,
            "bodySite": None,
        }
    )
    # A list of CodeableConcepts where one is expected still yields its codings.
    assert fact.codes == {(ICD10CM, "C20")}
    assert fact.clinical_status is None
    assert fact.verification_status is None
    assert fact.histology == frozenset()
    assert fact.profiles == frozenset()
    assert fact.date is None
    assert fact.problem is not None
    assert "not a string" in fact.problem
