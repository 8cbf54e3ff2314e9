"""The first trial's "ANC ≥ 1.5 × 10⁹/L" from a lab that reports WBC and the neutrophil
percentage but no absolute count: derived as the other trials derive it, judged by the
newest measurement, and unknown when an input is missing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cds_hooks.eligibility import CriterionResult
from cds_hooks.eligibility.results import MET, NOT_MET, UNKNOWN
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from tests.unit.screen_edits import AS_OF, ENGINE, PATIENTS

TRIAL = "scrt-capeox-serplulimab-rectal"
PATIENT = "likely-eligible"
DRAWN = "2026-02-20T08:30:00+01:00"


def lab(obs_id: str, loinc: str, value: float, unit: str, when: str = DRAWN) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


def anc(*added: dict[str, Any], keep_direct: bool = False) -> CriterionResult:
    bundle = json.loads((PATIENTS / "likely_eligible" / "bundle.json").read_text())
    resources = [
        r
        for r in resources_from_bundle(bundle)
        if keep_direct
        or not (
            r["resourceType"] == "Observation"
            and any(c.get("code") == "751-8" for c in r["code"]["coding"])
        )
    ]
    record = build_record([*resources, *added], observations_read=ENGINE.observations_read)
    return ENGINE.screen(record, AS_OF, [TRIAL]).trials[0].criterion("anc")


@pytest.mark.parametrize(("percent", "status"), [(50.0, MET), (37.5, MET), (30.0, NOT_MET)])
def test_anc_from_wbc_and_neutrophil_percent(percent: float, status: str) -> None:
    # 4.0 × 10⁹/L × 37.5 % is exactly the 1.5 threshold.
    result = anc(lab("wbc", "6690-2", 4.0, "10*9/L"), lab("neut", "770-8", percent, "%"))
    assert result.status == status
    assert "derived: 4 ×" in result.reason
    assert {e.reference for e in result.evidence} == {"Observation/wbc", "Observation/neut"}


def test_anc_with_only_one_input_is_unknown() -> None:
    result = anc(lab("wbc", "6690-2", 4.0, "10*9/L"))
    assert result.status == UNKNOWN
    assert result.reason.endswith("neutrophils percent: no result in the last 28 days")


def test_a_newer_direct_count_decides_over_an_older_derived_one() -> None:
    # The fixture's direct ANC 3.2 (2026-02-20) against a derived 1.2 drawn a week before.
    older = "2026-02-13T08:30:00+01:00"
    result = anc(
        lab("wbc", "6690-2", 4.0, "10*9/L", older),
        lab("neut", "770-8", 30.0, "%", older),
        keep_direct=True,
    )
    assert result.status == MET
    assert [e.reference for e in result.evidence] == ["Observation/likely-eligible-obs10"]
