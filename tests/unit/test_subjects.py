"""Whose data: a resource counts only when its subject resolves to this Patient."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.record import build_record
from fhir_mappings.subjects import SubjectMatcher, patient_full_urls

BASE = "https://ehr.example.org/fhir"
PATIENT: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "gender": "male"}


def lab(subject: Any, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
        "effectiveDateTime": "2026-02-20",
        "valueQuantity": {"value": 0.9, "unit": "mg/dL"},
    }
    if subject is not None:
        resource["subject"] = subject
    resource.update(extra)
    return resource


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/p1",
        "Patient/p1/_history/3",
        f"{BASE}/Patient/p1",
        f"{BASE}/Patient/p1/_history/2",
        "urn:uuid:p1",  # Synthea convention: the urn's uuid is the Patient's id
    ],
)
def test_references_that_name_this_patient(reference: str) -> None:
    matcher = SubjectMatcher("p1", fhir_base=BASE)
    assert matcher.why_not_own(lab({"reference": reference})) is None


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        (None, "has no subject"),
        ({"identifier": {"system": "urn:mrn", "value": "123"}}, "identifier only"),
        ({"display": "Jane Doe"}, "display name only"),
        ({}, "has no reference"),
        ({"reference": "Patient/p2"}, "belongs to Patient/p2"),
        ({"reference": "Group/ward"}, "belongs to Group/ward"),
        ({"reference": "urn:uuid:other"}, "not this Patient's Bundle entry"),
        ({"reference": "urn:oid:1.2.3"}, "not this Patient's Bundle entry"),
        ({"reference": "#contained"}, "contained resource"),
        ({"reference": "https://other.example.net/fhir/Patient/p1"}, "another FHIR server"),
        ({"reference": "ftp://x/Patient/p1"}, "not a FHIR reference"),
        ({"reference": "p1"}, "not a FHIR reference"),
    ],
)
def test_references_that_do_not_name_this_patient(subject: Any, reason: str) -> None:
    why = SubjectMatcher("p1", fhir_base=BASE).why_not_own(lab(subject))
    assert why is not None
    assert reason in why


def test_patient_field_is_read_when_there_is_no_subject() -> None:
    matcher = SubjectMatcher("p1")
    assert matcher.why_not_own({"patient": {"reference": "Patient/p1"}}) is None


def test_bundle_entry_urn_of_the_patient_counts() -> None:
    urn = "urn:uuid:0b5c1e7e-2f0d-4a31-8f3d-4d1f5a2e9c10"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": urn, "resource": PATIENT},
            {"fullUrl": "urn:uuid:x", "resource": lab(None)},
        ],
    }
    assert patient_full_urls(bundle) == [urn]
    record = build_record([PATIENT, lab({"reference": urn})], patient_urls=[urn])
    assert [o.ref for o in record.observations] == ["Observation/o1"]


def test_absolute_patient_full_url_sets_the_server() -> None:
    full_url = f"{BASE}/Patient/p1"
    mine = lab({"reference": f"{BASE}/Patient/p1"})
    theirs = lab({"reference": "https://elsewhere.example/fhir/Patient/p1"}, id="o2")
    record = build_record([PATIENT, mine, theirs], patient_urls=[full_url])
    assert [o.ref for o in record.observations] == ["Observation/o1"]
    assert record.skipped == (
        (
            "Observation/o2",
            "refers to Patient/p1 on another FHIR server (https://elsewhere.example/fhir)",
        ),
    )


def test_skipped_resources_are_listed_with_their_reason_never_used() -> None:
    record = build_record([PATIENT, lab(None), lab({"display": "x"}, id="o2")])
    assert record.observations == ()
    assert record.skipped_json() == [
        {"reference": "Observation/o1", "reason": "has no subject; cannot tell whose data it is"},
        {
            "reference": "Observation/o2",
            "reason": "subject is a display name only, not a reference to this Patient",
        },
    ]
