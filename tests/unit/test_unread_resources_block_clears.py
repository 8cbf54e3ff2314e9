"""A resource of this patient that could not be used (two versions that disagree and
cannot be ordered) may be the one a criterion looks for: the record's silence no longer
clears the patient. One whose subject names nobody in particular never changes a result
(test_reader_properties)."""

from __future__ import annotations

import json
from typing import Any

from cds_hooks.eligibility import CriterionResult
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from tests.unit.screen_edits import AS_OF, ENGINE, ICD10CM, PATIENTS, added_condition

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _screen(
    fixture: str, trial: str, criterion: str, extra: list[dict[str, Any]]
) -> CriterionResult:
    resources = resources_from_bundle(json.loads((PATIENTS / fixture / "bundle.json").read_text()))
    record = build_record([*resources, *extra], observations_read=ENGINE.observations_read)
    return ENGINE.screen(record, AS_OF, [trial]).trials[0].criterion(criterion)


def _two_versions(resource: dict[str, Any], **changed: Any) -> list[dict[str, Any]]:
    return [resource, {**resource, **changed}]


def test_a_condition_in_two_disagreeing_versions_blocks_a_clear_by_absence() -> None:
    liver = added_condition("torch-candidate", ICD10CM, "C78.7")
    resolved = {"coding": [{"code": "resolved"}]}
    versions = _two_versions(liver, clinicalStatus=resolved)
    before = _screen("torch_e2_candidate", "torch-e2", "no_distant_metastasis", [])
    assert before.status == "met"
    after = _screen("torch_e2_candidate", "torch-e2", "no_distant_metastasis", versions)
    assert after.status == "unknown"
    assert "Condition/added-condition could not be used (appears twice" in after.reason
    assert after.evidence[-1].reference == "Condition/added-condition"


def test_a_medication_in_two_disagreeing_versions_blocks_no_active_medication() -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "rx-twice",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/likely-eligible"},
        "authoredOn": "2026-02-01",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1191"}]},
    }
    versions = _two_versions(order, status="stopped")
    before = _screen("likely_eligible", "scrt-capeox-serplulimab-rectal", "anticoagulants", [])
    assert before.status == "met"
    after = _screen("likely_eligible", "scrt-capeox-serplulimab-rectal", "anticoagulants", versions)
    assert after.status == "unknown"
    assert "MedicationRequest/rx-twice could not be used" in after.reason


def test_two_versions_of_someone_elses_resource_block_nothing() -> None:
    stray = added_condition("someone-else", ICD10CM, "C78.7")
    versions = _two_versions(stray, clinicalStatus={"coding": [{"code": "resolved"}]})
    result = _screen("torch_e2_candidate", "torch-e2", "no_distant_metastasis", versions)
    assert result.status == "met"
    resources = resources_from_bundle(
        json.loads((PATIENTS / "torch_e2_candidate" / "bundle.json").read_text())
    )
    record = build_record([*resources, *versions])
    assert (
        "Condition/added-condition",
        "belongs to Patient/someone-else, not Patient/torch-candidate",
    ) in record.skipped
