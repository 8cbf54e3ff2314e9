"""Screen a fixture patient with one Condition added, or one Observation's value replaced: a
packaged definition's answer to data coded or written the way a real feed sends it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from cds_hooks.eligibility import CriterionResult, Engine
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record

PATIENTS = Path(__file__).resolve().parents[2] / "fixtures" / "patients"
AS_OF = date(2026, 3, 2)
ENGINE = Engine.default()
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
CONDITION_ID = "added-condition"


def added_condition(
    patient: str, system: str, code: str, onset: str = "2026-02-10"
) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": CONDITION_ID,
        "subject": {"reference": f"Patient/{patient}"},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {"coding": [{"system": system, "code": code}]},
        "onsetDateTime": onset,
    }


def screen_with(
    fixture: str,
    trial: str,
    criterion: str,
    code: str | None = None,
    system: str = ICD10CM,
    *,
    onset: str = "2026-02-10",
    engine: Engine = ENGINE,
) -> CriterionResult:
    """`criterion` of `trial` for the fixture patient, with one more active, confirmed
    Condition (`system`, `code`), by default dated three weeks before the screening date."""
    resources = resources_from_bundle(json.loads((PATIENTS / fixture / "bundle.json").read_text()))
    patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    if code is not None:
        resources.append(added_condition(patient, system, code, onset))
    record = build_record(resources, observations_read=engine.observations_read)
    return engine.screen(record, AS_OF, [trial]).trials[0].criterion(criterion)


def screen_with_value(
    fixture: str, trial: str, criterion: str, loinc: str, value: dict[str, Any]
) -> CriterionResult:
    """`criterion` of `trial` for the fixture patient, with the value[x] of its one
    Observation coded `loinc` replaced by `value` (which may add other fields too)."""
    resources = resources_from_bundle(json.loads((PATIENTS / fixture / "bundle.json").read_text()))
    found = [
        r
        for r in resources
        if r["resourceType"] == "Observation"
        and any(c.get("code") == loinc for c in r["code"]["coding"])
    ]
    assert len(found) == 1
    for key in [k for k in found[0] if k.startswith("value")]:
        del found[0][key]
    found[0].update(value)
    record = build_record(resources, observations_read=ENGINE.observations_read)
    return ENGINE.screen(record, AS_OF, [trial]).trials[0].criterion(criterion)
