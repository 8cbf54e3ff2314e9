"""Neo-Field I: "INR <= 1.5, APTT <= 1.5 x ULN (for those not receiving anticoagulation)".
Screened against the packaged definition with the `neo_field_anticoagulated_high_aptt`
patient (APTT 60 s, ULN 38 s), whose apixaban order is swapped for other drugs: every
anticoagulant exempts (heparins included, and the INR too), an antiplatelet agent does
not."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record

BUNDLE = (
    Path(__file__).resolve().parents[2]
    / "fixtures"
    / "patients"
    / "neo_field_anticoagulated_high_aptt"
    / "bundle.json"
)
AS_OF = date(2026, 3, 2)
ENGINE = Engine.default()
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"


def _coagulation(drug: dict[str, str] | None, inr: float = 1.0) -> str:
    resources: list[dict[str, Any]] = []
    for resource in resources_from_bundle(json.loads(BUNDLE.read_text())):
        if resource["id"] == "neo-anticoagulated-med23":  # the apixaban order
            if drug is None:
                continue
            resource = {**resource, "medicationCodeableConcept": {"coding": [drug]}}
        if resource["id"] == "neo-anticoagulated-obs18":  # the INR
            resource = {**resource, "valueQuantity": {**resource["valueQuantity"], "value": inr}}
        resources.append(resource)
    record = build_record(resources, observations_read=ENGINE.observations_read)
    trial = ENGINE.screen(record, AS_OF, ["neo-field-i"]).trials[0]
    return trial.criterion("coagulation").status


@pytest.mark.parametrize(
    "drug",
    [
        {"system": RXNORM, "code": "1364430", "display": "apixaban"},
        {"system": RXNORM, "code": "67108", "display": "enoxaparin"},
        {"system": RXNORM, "code": "5224", "display": "heparin"},
        {"system": ATC, "code": "B01AB04", "display": "dalteparin"},
        {"system": ATC, "code": "B01AX05", "display": "fondaparinux"},
        {"system": RXNORM, "code": "11289", "display": "warfarin"},
    ],
)
def test_an_anticoagulant_exempts_from_both_limits(drug: dict[str, str]) -> None:
    assert _coagulation(drug) == "met"
    assert _coagulation(drug, inr=2.6) == "met"  # a therapeutic INR on warfarin


@pytest.mark.parametrize(
    "drug",
    [
        {"system": RXNORM, "code": "1191", "display": "aspirin"},
        {"system": ATC, "code": "B01AC04", "display": "clopidogrel"},
    ],
)
def test_an_antiplatelet_agent_does_not_exempt(drug: dict[str, str]) -> None:
    assert _coagulation(drug) == "not_met"  # APTT 60 s > 1.5 × 38 s


def test_without_anticoagulation_both_limits_apply() -> None:
    assert _coagulation(None) == "not_met"
