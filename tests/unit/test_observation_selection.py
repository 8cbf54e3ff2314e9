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
    selection = ObservationSelection.of([load_terminology().code_set(n) for n in ("creatinine",)])
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


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("urn:oid:2.16.840.1.113883.6.1", "http://loinc.org"),
        ("https://loinc.org", "http://loinc.org"),
        ("http://loinc.org/", "http://loinc.org"),
    ],
)
def test_a_loinc_alias_is_read_and_counts_like_the_canonical_uri(
    engine: Engine, alias: str, canonical: str
) -> None:
    # Data converted from HL7 v2/CDA names LOINC by its OID: the creatinine must still be
    # selected, parsed with the canonical system and decide the criterion as before.
    path = ROOT / "fixtures/patients/likely_eligible/bundle.json"
    bundle = json.loads(path.read_text())
    as_of = date(2026, 3, 2)
    expected = engine.screen(record_from_bundle(bundle), as_of).to_json()
    renamed = 0
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "Observation":
            continue
        for c in resource.get("code", {}).get("coding", []):
            if c.get("system") == canonical:
                c["system"] = alias
                renamed += 1
        quantity = resource.get("valueQuantity")
        if quantity and quantity.get("system") == "http://unitsofmeasure.org":
            quantity["system"] = "urn:oid:2.16.840.1.113883.6.8"
    assert renamed
    selection = engine.observations_read
    assert all(
        selection.reads(e["resource"])
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["system"] == alias
        and (canonical, e["resource"]["code"]["coding"][0]["code"]) in selection.codes
    )
    assert engine.screen(record_from_bundle(bundle, engine), as_of).to_json() == expected


def test_codes_of_names_every_system_by_its_canonical_uri() -> None:
    from fhir_mappings._read import codes_of

    concept = {
        "coding": [
            {"system": "urn:oid:2.16.840.1.113883.6.96", "code": "254582000"},
            {"system": "urn:oid:2.16.840.1.113883.6.88", "code": "1364430"},
            {"system": "urn:oid:2.16.840.1.113883.6.90", "code": "C20"},
            {"system": "http://example.org/local", "code": "X1"},
        ]
    }
    assert codes_of(concept) == {
        ("http://snomed.info/sct", "254582000"),
        ("http://www.nlm.nih.gov/research/umls/rxnorm", "1364430"),
        ("http://hl7.org/fhir/sid/icd-10-cm", "C20"),
        ("http://example.org/local", "X1"),  # unknown systems are kept as they are
    }
