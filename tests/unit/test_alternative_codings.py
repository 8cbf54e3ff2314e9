"""Alternative codings and failure paths, from the FHIR JSON to the decision: a drug coded
as an ingredient, a product, an ATC class, through a Medication (referenced, contained, or
by its ingredients), by text only, or not at all — an order whose drug cannot be read is
never "no anticoagulant"."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.facts import ATC, RXNORM
from fhir_mappings.record import build_record
from tests.unit.test_engine_rules import ANTICOAG, run

PATIENT = {"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1960-05-01"}


def order(**drug: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "rx",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "authoredOn": "2026-02-01",
        **drug,
    }


def concept(*codings: tuple[str, str], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [{"system": s, "code": c} for s, c in codings]}
    if text is not None:
        out["text"] = text
    return out


def screen(*resources: dict[str, Any]) -> Any:
    return run(ANTICOAG, build_record([PATIENT, *resources]))


@pytest.mark.parametrize(
    "drug",
    [
        {"medicationCodeableConcept": concept((RXNORM, "1364430"))},  # ingredient
        {"medicationCodeableConcept": concept((RXNORM, "1364445"))},  # clinical drug (SCD)
        {"medicationCodeableConcept": concept((ATC, "B01AF02"))},  # ATC substance
        {"medicationCodeableConcept": concept(("urn:local", "X1"), (ATC, "B01AF02"))},
    ],
    ids=["rxnorm-ingredient", "rxnorm-product", "atc", "local-then-atc"],
)
def test_every_coding_of_an_anticoagulant_is_recognised(drug: dict[str, Any]) -> None:
    result = screen(order(**drug))
    assert result.status == "unknown"
    assert result.reason.startswith("Active ")
    assert result.evidence[0].reference == "MedicationRequest/rx"


MEDICATION = {
    "resourceType": "Medication",
    "id": "m1",
    "code": concept((RXNORM, "1364445"), text="apixaban 5 MG Oral Tablet"),
}


def test_a_referenced_medication_is_read() -> None:
    result = screen(order(medicationReference={"reference": "Medication/m1"}), MEDICATION)
    assert result.status == "unknown"
    assert result.reason.startswith("Active apixaban 5 MG Oral Tablet:")


def test_a_contained_medication_is_read() -> None:
    contained = {**MEDICATION, "id": "med"}
    result = screen(order(contained=[contained], medicationReference={"reference": "#med"}))
    assert result.status == "unknown"
    assert result.reason.startswith("Active apixaban 5 MG Oral Tablet:")


def test_a_medication_coded_only_by_its_ingredients_is_read() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m2",
        "code": {"text": "compounded"},
        "ingredient": [{"itemCodeableConcept": concept((RXNORM, "1364430"))}],
    }
    result = screen(order(medicationReference={"reference": "Medication/m2"}), medication)
    assert result.status == "unknown"
    assert result.reason.startswith("Active compounded:")


@pytest.mark.parametrize(
    "drug",
    [
        {"medicationCodeableConcept": {"text": "Apixaban 5 mg twice daily"}},
        {"medicationCodeableConcept": concept(("urn:local", "X1"), text="ELIQUIS 5 mg")},
        {"medicationReference": {"reference": "Medication/missing", "display": "apixaban"}},
    ],
    ids=["text-only", "unknown-code-with-brand-text", "unresolved-reference-with-display"],
)
def test_a_drug_named_only_in_text_may_be_the_anticoagulant(drug: dict[str, Any]) -> None:
    result = screen(order(**drug))
    assert result.status == "unknown"
    assert result.reason == (
        "anticoagulant or antiplatelet: MedicationRequest/rx may be apixaban; code not recognised"
    )


@pytest.mark.parametrize(
    "drug",
    [
        {},
        {"medicationReference": {"reference": "Medication/missing"}},
        {"medicationReference": {"reference": "#nothing-contained"}},
        {"medicationCodeableConcept": {"text": "tablets as discussed"}},
        {"medicationCodeableConcept": {"coding": [{"system": RXNORM}]}},
    ],
    ids=["no-drug", "unresolved", "missing-contained", "text-naming-no-drug", "coding-no-code"],
)
def test_an_active_order_with_no_readable_code_is_unknown(drug: dict[str, Any]) -> None:
    result = screen(order(**drug))
    assert result.status == "unknown"
    assert result.reason == "MedicationRequest/rx has no readable medication code"


def test_a_coded_drug_of_another_class_is_a_clear() -> None:
    amlodipine = order(medicationCodeableConcept=concept((RXNORM, "17767"), text="amlodipine"))
    result = screen(amlodipine)
    assert result.status == "met"
    assert result.reason == "No active anticoagulant or antiplatelet among 1 active medication"


def test_a_statement_counts_like_an_order() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "st",
        "status": "active",
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": "2026-01-01",
        "medicationCodeableConcept": concept((ATC, "B01AC06"), text="aspirin"),
    }
    result = screen(statement)
    assert result.status == "unknown"
    assert result.reason.startswith("Active aspirin:")
