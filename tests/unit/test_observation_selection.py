"""Observations no rule reads are left out of the record, and that never changes a result."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.screening import record_from_bundle
from fhir_mappings.facts import Code
from fhir_mappings.selection import ObservationSelection
from fhir_mappings.terminology import load_terminology

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = sorted(
    [*ROOT.glob("fixtures/patients/*/bundle.json"), *ROOT.glob("fixtures/realistic/*/bundle.json")]
)
LOINC = "http://loinc.org"
CREATININE: Code = (LOINC, "2160-0")
CHOLESTEROL: Code = (LOINC, "2093-3")  # in no trial's code sets


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


def obs(code: Any, components: Any = None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Observation", "id": "o", "code": code}
    if components is not None:
        resource["component"] = components
    return resource


def coding(code: Code) -> dict[str, Any]:
    return {"coding": [{"system": code[0], "code": code[1]}]}


def test_selection_reads_codes_of_read_sets_and_nothing_else(engine: Engine) -> None:
    selection = engine.observations_read
    assert CREATININE in selection.codes
    assert CHOLESTEROL not in selection.codes
    assert selection.reads(obs(coding(CREATININE)))
    assert not selection.reads(obs(coding(CHOLESTEROL)))
    # A panel whose own code is unrelated but whose component is read.
    assert selection.reads(obs(coding(CHOLESTEROL), [{"code": coding(CREATININE)}]))
    assert not selection.reads(obs(coding(CHOLESTEROL), [{"code": coding(CHOLESTEROL)}]))
    # No code at all: nothing could bucket it, so nothing reads it.
    assert not selection.reads({"resourceType": "Observation", "id": "o"})


@pytest.mark.parametrize(
    "odd",
    [
        obs("2160-0"),  # code as a bare string
        obs({"coding": "2160-0"}),
        obs({"coding": ["2160-0"]}),
        obs(coding(CHOLESTEROL), "not a list"),
        obs(coding(CHOLESTEROL), ["not an object"]),
        obs(coding(CHOLESTEROL), [{"code": ["not", "an", "object"]}]),
    ],
)
def test_shapes_it_cannot_read_cheaply_go_to_the_parser(odd: dict[str, Any]) -> None:
    # The parser then reports what is wrong; the selection never drops it unseen.
    selection = ObservationSelection.of(
        [load_terminology().code_set(n) for n in ("creatinine",)]
    )
    assert selection.reads(odd)


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.parent.name)
def test_results_are_the_same_with_and_without_the_selection(engine: Engine, path: Path) -> None:
    bundle = json.loads(path.read_text())
    as_of = date(2026, 3, 2)
    full = engine.screen(record_from_bundle(bundle), as_of)
    selected_record = record_from_bundle(bundle, engine)
    assert engine.screen(selected_record, as_of).to_json() == full.to_json()


def test_unread_observations_are_not_in_the_record(engine: Engine) -> None:
    bundle = json.loads((ROOT / "fixtures/patients/likely_eligible/bundle.json").read_text())
    extra = obs(coding(CHOLESTEROL)) | {
        "id": "cholesterol-1",
        "status": "final",
        "subject": {"reference": "Patient/likely-eligible"},
        "effectiveDateTime": "2026-02-01",
        "valueQuantity": {"value": 180, "unit": "mg/dL", "system": "http://unitsofmeasure.org"},
    }
    bundle["entry"].append({"resource": extra})
    everything = record_from_bundle(bundle)
    selected = record_from_bundle(bundle, engine)
    assert "Observation/cholesterol-1" in {o.ref for o in everything.observations}
    assert "Observation/cholesterol-1" not in {o.ref for o in selected.observations}
    assert len(selected.observations) == len(everything.observations) - 1
