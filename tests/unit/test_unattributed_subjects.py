"""A resource sent with this patient's data whose subject names nobody (an identifier or a
display name only, or no subject at all) is never counted as this patient's evidence, but
it may be this patient's: a criterion that would be cleared by the record's silence stays
with the study team, and the reason names the resource."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cds_hooks.eligibility.results import MET, NOT_MET, UNKNOWN
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from tests.unit.screen_edits import AS_OF, ENGINE, PATIENTS

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PEMBROLIZUMAB = {"coding": [{"system": RXNORM, "code": "1547545", "display": "pembrolizumab"}]}


def prior_immunotherapy(subject: dict[str, Any] | None) -> tuple[str, str]:
    """The first trial's "no prior immune checkpoint inhibitor" for its likely-eligible
    patient, with one more MedicationStatement of pembrolizumab with `subject`."""
    resources = resources_from_bundle(
        json.loads((PATIENTS / "likely_eligible" / "bundle.json").read_text())
    )
    statement: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": "stray-pembrolizumab",
        "status": "completed",
        "medicationCodeableConcept": PEMBROLIZUMAB,
        "effectiveDateTime": "2025-06-01",
    }
    if subject is not None:
        statement["subject"] = subject
    resources.append(statement)
    record = build_record(resources, observations_read=ENGINE.observations_read)
    result = ENGINE.screen(record, AS_OF, ["scrt-capeox-serplulimab-rectal"]).trials[0]
    criterion = result.criterion("prior_immunotherapy")
    return criterion.status, criterion.reason


def test_the_patient_s_own_statement_excludes() -> None:
    # An exclusion: met is "had a checkpoint inhibitor", not_met clears it.
    assert prior_immunotherapy({"reference": "Patient/likely-eligible"})[0] == MET


@pytest.mark.parametrize(
    "subject",
    [
        None,
        {"identifier": {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14", "value": "E1"}},
        {"display": "Jane Doe"},
        {"reference": "#patient"},
    ],
)
def test_a_statement_naming_nobody_keeps_the_exclusion_open(
    subject: dict[str, Any] | None,
) -> None:
    status, reason = prior_immunotherapy(subject)
    assert status == UNKNOWN
    assert "MedicationStatement/stray-pembrolizumab could not be used" in reason


@pytest.mark.parametrize(
    "subject",
    [{"reference": "Patient/someone-else"}, {"reference": "Group/ward-3"}],
)
def test_another_patient_s_statement_changes_nothing(subject: dict[str, Any]) -> None:
    assert prior_immunotherapy(subject)[0] == NOT_MET
