"""TNM categories coded in the AJCC system (as mCODE examples send them,
http://cancerstaging.org#cT3) read like their SNOMED CT qualifier values."""

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
AJCC = "http://cancerstaging.org"
BASE = json.loads(
    (Path(__file__).parents[2] / "fixtures/patients/neo_field_candidate/bundle.json").read_text()
)
T_STAGE, N_STAGE, M_STAGE = "399504009", "399534004", "399387003"


def stage_status(trial: str, criterion: str, **values: str) -> str:
    bundle = copy.deepcopy(BASE)
    codes = {"T": T_STAGE, "N": N_STAGE, "M": M_STAGE}
    for axis, value in values.items():
        resource: dict[str, Any] = next(
            e["resource"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Observation"
            and e["resource"]["code"]["coding"][0]["code"] == codes[axis]
        )
        resource["valueCodeableConcept"] = {"coding": [{"system": AJCC, "code": value}]}
    record = build_record(resources_from_bundle(bundle))
    return ENGINE.screen(record, date(2026, 3, 2), [trial]).trials[0].criterion(criterion).status


@pytest.mark.parametrize(
    ("values", "status"),
    [
        ({"T": "cT3", "N": "cN1", "M": "cM0"}, "met"),  # the SNOMED-coded base, in AJCC codes
        ({"M": "cM1"}, "not_met"),
        ({"M": "cM1a"}, "not_met"),
        ({"T": "T3"}, "unknown"),  # no "c": not a code of the AJCC system
    ],
)
def test_neo_field_stage_from_ajcc_codes(values: dict[str, str], status: str) -> None:
    assert stage_status("neo-field-i", "clinical_stage", **values) == status
