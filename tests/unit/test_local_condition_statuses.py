"""A Condition whose verificationStatus or clinicalStatus is sent only in a local code or
as words, as Epic and other EHRs send their own problem-list statuses: read when the words
are FHIR's ("Entered in error", "Resolved"), else never taken as confirmed. An exclusion
is then unknown, not met, since the local code may say "refuted" or "entered in error"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cds_hooks.eligibility import CriterionResult
from cds_hooks.eligibility.results import MET, NOT_MET, UNKNOWN
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from tests.unit.screen_edits import AS_OF, ENGINE, ICD10CM, PATIENTS, added_condition

EPIC = "urn:oid:1.2.840.114350.1.13.0.1.7.4.698084.10035"


def other_malignancy(**statuses: Any) -> CriterionResult:
    """TORCH-E2's "other malignancy within 5 years" with a breast cancer added."""
    bundle = json.loads((PATIENTS / "torch_e2_candidate" / "bundle.json").read_text())
    resources = resources_from_bundle(bundle)
    patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    condition = added_condition(patient, ICD10CM, "C50.9")
    condition.update(statuses)
    for key in [k for k, v in statuses.items() if v is None]:
        del condition[key]
    record = build_record([*resources, condition], observations_read=ENGINE.observations_read)
    return ENGINE.screen(record, AS_OF, ["torch-e2"]).trials[0].criterion("other_malignancy")


def test_a_confirmed_breast_cancer_excludes() -> None:
    assert other_malignancy().status == MET


@pytest.mark.parametrize(
    "status",
    [
        {"coding": [{"system": EPIC, "code": "EIE", "display": "Entered in error"}]},
        {"text": "Entered in error"},
        {"coding": [{"system": EPIC, "code": "refuted"}]},
    ],
)
def test_entered_in_error_or_refuted_in_words_or_a_local_coding(status: Any) -> None:
    assert other_malignancy(verificationStatus=status).status == NOT_MET


@pytest.mark.parametrize(
    "status",
    [
        {"coding": [{"system": EPIC, "code": "3"}]},
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "ok",
                }
            ]
        },
        {"text": "per patient"},
    ],
)
def test_a_verification_status_that_cannot_be_read_is_unknown(status: Any) -> None:
    result = other_malignancy(verificationStatus=status)
    assert result.status == UNKNOWN
    assert "is not known to be confirmed" in result.reason
    assert "not a FHIR verification status" in result.reason
    assert [e.reference for e in result.evidence] == ["Condition/added-condition"]


def test_no_verification_status_is_read_as_before() -> None:
    # FHIR allows it to be absent; the condition is on the problem list as recorded.
    assert other_malignancy(verificationStatus=None).status == MET
