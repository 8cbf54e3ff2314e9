"""A haemoglobin reported in mmol/L against "≥ 10.0 g/dL": 6.2 mmol/L is that threshold as
a mmol/L lab writes it (9.99 g/dL converted), and the evidence says both values; 6.1 mmol/L
(9.83 g/dL) is below it."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record

ENGINE = Engine.default()
SCRT = "scrt-capeox-serplulimab-rectal"
BASE = json.loads(
    (Path(__file__).parents[2] / "fixtures/patients/likely_eligible/bundle.json").read_text()
)
UCUM = "http://unitsofmeasure.org"


def with_hemoglobin(value: float) -> list[dict[str, Any]]:
    bundle = copy.deepcopy(BASE)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Observation" and any(
            c.get("code") == "718-7" for c in resource["code"]["coding"]
        ):
            resource["valueQuantity"] = {
                "value": value,
                "unit": "mmol/L",
                "system": UCUM,
                "code": "mmol/L",
            }
    return resources_from_bundle(bundle)


@pytest.mark.parametrize(
    ("value", "status", "note"),
    [
        (6.2, "met", "= 9.99 g/dL, which is 10 g/dL at the precision reported"),
        (6.1, "not_met", "= 9.83 g/dL"),
    ],
)
def test_haemoglobin_in_mmol_per_litre(value: float, status: str, note: str) -> None:
    result = ENGINE.screen(build_record(with_hemoglobin(value)), date(2026, 3, 2), [SCRT])
    criterion = result.trials[0].criterion("hemoglobin")
    assert criterion.status == status
    (evidence,) = criterion.evidence
    assert (evidence.value, evidence.unit, evidence.note) == (value, "mmol/L", note)
    assert f"{value} mmol/L on 2026-02-20" in criterion.reason
