"""Bundle reading: which resources come out, which outcomes are reported, what is refused."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fhir_mappings.bundle import BundleError, outcomes_from_bundle, resources_from_bundle

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1968-05-14"}
LAB = {
    "resourceType": "Observation",
    "id": "hgb",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
    "subject": {"reference": "Patient/p1"},
    "valueQuantity": {
        "value": 12.1,
        "unit": "g/dL",
        "system": "http://unitsofmeasure.org",
        "code": "g/dL",
    },
}
# What Epic returns alongside search matches when part of a search could not be served.
EPIC_WARNING = {
    "resourceType": "OperationOutcome",
    "issue": [
        {
            "severity": "warning",
            "code": "processing",
            "details": {
                "coding": [
                    {
                        "system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369",
                        "code": "4119",
                        "display": "Some data may be restricted",
                    }
                ],
                "text": "Some data may be restricted",
            },
        }
    ],
}
EPIC_ERROR = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "fatal", "code": "exception", "diagnostics": "Timeout"}],
}


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


@pytest.mark.parametrize(
    "kind",
    [
        "collection",
        "searchset",
        "transaction",
        "batch",
        "transaction-response",
        "batch-response",
        "document",
        "message",
    ],
)
def test_every_patient_bearing_bundle_type_is_read(kind: str) -> None:
    data = bundle(kind, {"fullUrl": "urn:uuid:p1", "resource": PATIENT}, {"resource": LAB})
    assert resources_from_bundle(data) == [PATIENT, LAB]


def test_searchset_outcome_entries_are_not_resources_but_are_reported() -> None:
    data = bundle(
        "searchset",
        {"resource": LAB, "search": {"mode": "match"}},
        {"resource": PATIENT, "search": {"mode": "include"}},
        {"resource": EPIC_WARNING, "search": {"mode": "outcome"}},
        {"resource": EPIC_ERROR, "search": {"mode": "outcome"}},
    )
    assert resources_from_bundle(data) == [LAB, PATIENT]
    outcomes = outcomes_from_bundle(data)
    assert outcomes == [EPIC_WARNING, EPIC_ERROR]
    # The caller can tell that the server failed part of the search.
    assert [o["issue"][0]["severity"] for o in outcomes] == ["warning", "fatal"]


def test_batch_response_entries_without_resource_are_skipped_and_outcomes_kept() -> None:
    failed = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found"}],
    }
    data = bundle(
        "batch-response",
        {"resource": PATIENT, "response": {"status": "200 OK"}},
        {"response": {"status": "404 Not Found", "outcome": failed}},
        {"response": {"status": "204 No Content"}},
    )
    assert resources_from_bundle(data) == [PATIENT]
    assert outcomes_from_bundle(data) == [failed]


def test_empty_bundle_and_bundle_without_entry_give_nothing() -> None:
    assert resources_from_bundle(bundle("searchset")) == []
    assert resources_from_bundle({"resourceType": "Bundle", "type": "collection"}) == []
    assert outcomes_from_bundle({"resourceType": "Bundle", "type": "collection"}) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([PATIENT], "not a JSON object (got a list)"),
        ("Bundle", "not a JSON object (got str)"),
        (None, "not a JSON object"),
        ({"type": "collection"}, "no resourceType"),
        (PATIENT, "resourceType is 'Patient', expected 'Bundle'"),
        ({"resourceType": "Bundle"}, "Bundle has no type"),
        ({"resourceType": "Bundle", "type": "history"}, "'history' is not supported"),
        ({"resourceType": "Bundle", "type": "bogus"}, "'bogus' is not supported"),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": {"resource": PATIENT}},
            "Bundle.entry is not a list",
        ),
        (
            bundle("collection", {"resource": PATIENT}, {"resource": "Observation/1"}),
            "Bundle.entry[1].resource is not a JSON object",
        ),
        (
            bundle("collection", {"resource": {"id": "x"}}),
            "Bundle.entry[0].resource has no resourceType",
        ),
    ],
)
def test_unreadable_input_is_one_clear_line(data: Any, message: str) -> None:
    with pytest.raises(BundleError, match=re.escape(message)) as caught:
        resources_from_bundle(data)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_error_message_stays_short_for_huge_values() -> None:
    with pytest.raises(BundleError) as caught:
        resources_from_bundle({"resourceType": "x" * 10_000})
    assert len(str(caught.value)) < 120


def test_outcomes_refuse_what_resources_refuse() -> None:
    with pytest.raises(BundleError, match="expected 'Bundle'"):
        outcomes_from_bundle(EPIC_WARNING)
