"""An impossible blood pressure (a typing slip: 1280 for 128) never decides Neo-Field I's
"uncontrolled hypertension > 160/100", whether it is a panel's component or a result of its
own, and an older reading does not stand in for it (`neo_field_candidate`: panel 128/82 on
2026-02-18)."""

from __future__ import annotations

import json
from typing import Any

from cds_hooks.eligibility import CriterionResult
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from tests.unit.screen_edits import AS_OF, ENGINE, PATIENTS

LOINC = "http://loinc.org"
PANEL = "neo-candidate-obs20"


def _screen(edit: Any = None, extra: dict[str, Any] | None = None) -> CriterionResult:
    resources = resources_from_bundle(
        json.loads((PATIENTS / "neo_field_candidate" / "bundle.json").read_text())
    )
    if edit is not None:
        resources = [edit(r) if r.get("id") == PANEL else r for r in resources]
    if extra is not None:
        resources.append(extra)
    record = build_record(resources, observations_read=ENGINE.observations_read)
    return (
        ENGINE.screen(record, AS_OF, ["neo-field-i"]).trials[0].criterion("cardiovascular_disease")
    )


def _systolic(value: float) -> Any:
    def edit(panel: dict[str, Any]) -> dict[str, Any]:
        components = [
            {**c, "valueQuantity": {**c["valueQuantity"], "value": value}}
            if c["code"]["coding"][0]["code"] == "8480-6"
            else c
            for c in panel["component"]
        ]
        return {**panel, "component": components}

    return edit


def _own(value: float, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "sbp-own",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
        "subject": {"reference": "Patient/neo-candidate"},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": "mm[Hg]",
            "system": "http://unitsofmeasure.org",
            "code": "mm[Hg]",
        },
    }


def test_the_plausible_panel_decides() -> None:
    assert "Systolic blood pressure 128 mm[Hg]" in _screen().reason
    assert "Systolic blood pressure 170 mm[Hg]" in _screen(_systolic(170)).reason
    assert _screen(_systolic(170)).status == "met"


def test_an_impossible_component_is_unknown() -> None:
    result = _screen(_systolic(1280))
    assert result.status == "unknown"
    assert "implausible value: 1280 mm[Hg] is outside the physiological limits" in result.reason


def test_an_impossible_newer_result_of_its_own_is_unknown_and_the_panel_does_not_stand_in() -> None:
    result = _screen(extra=_own(1720, "2026-02-26T08:00:00+01:00"))
    assert result.status == "unknown"
    assert "latest result Observation/sbp-own on 2026-02-26: implausible value" in result.reason
    # Older than the panel, it decides nothing: the panel's 128 does.
    older = _screen(extra=_own(1720, "2026-02-10T08:00:00+01:00"))
    assert "Systolic blood pressure 128 mm[Hg]" in older.reason
