"""MedicationRequest / MedicationStatement → MedicationFact, with Medication references."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.facts import ATC, RXNORM
from fhir_mappings.medications import DO_NOT_PERFORM, parse_medication
from tests.unit.test_engine_rules import record, run

APIXABAN_SCD = {"system": RXNORM, "code": "1364445", "display": "apixaban 5 MG Oral Tablet"}
APIXABAN_IN = {"system": RXNORM, "code": "1364430", "display": "apixaban"}
APIXABAN_ATC = {"system": ATC, "code": "B01AF02", "display": "apixaban"}

ELIQUIS = {
    "resourceType": "Medication",
    "id": "eliquis",
    "code": {"coding": [APIXABAN_SCD], "text": "Eliquis 5 mg tablet"},
    "ingredient": [{"itemCodeableConcept": {"coding": [APIXABAN_IN]}, "isActive": True}],
}


def order(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "rx1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2026-01-20T14:03:00-05:00",
        "medicationCodeableConcept": {"coding": [APIXABAN_SCD, APIXABAN_ATC]},
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def test_codeable_concept_order() -> None:
    fact = parse_medication(order(), {})
    assert fact.ref == "MedicationRequest/rx1"
    assert fact.resource_type == "MedicationRequest"
    # The clinical drug maps to its ingredient (packaged ingredient map).
    assert fact.codes == {(RXNORM, "1364445"), (ATC, "B01AF02"), (RXNORM, "1364430")}
    assert fact.status == "active"
    assert fact.intent == "order"
    assert fact.date == date(2026, 1, 20)
    assert fact.display == "apixaban 5 MG Oral Tablet"
    assert fact.problem is None


def test_contained_medication_with_ingredient_codes() -> None:
    fact = parse_medication(
        order(
            medicationCodeableConcept=None,
            contained=[{**ELIQUIS, "id": "med0"}],
            medicationReference={"reference": "#med0", "display": "Eliquis"},
        ),
        {},
    )
    assert fact.codes == {(RXNORM, "1364445"), (RXNORM, "1364430"), (ATC, "B01AF02")}
    assert fact.display == "Eliquis 5 mg tablet"
    assert fact.problem is None


@pytest.mark.parametrize(
    ("reference", "key"),
    [
        ("Medication/eliquis", "Medication/eliquis"),
        ("https://ehr.example.org/fhir/Medication/eliquis", "Medication/eliquis"),
        ("Medication/eliquis/_history/3", "Medication/eliquis"),
        (
            "urn:uuid:0f3c9e1e-4d7e-4b0b-9a53-2f1f4d8f9c11",
            "urn:uuid:0f3c9e1e-4d7e-4b0b-9a53-2f1f4d8f9c11",
        ),
    ],
)
def test_medication_resource_elsewhere_in_the_record(reference: str, key: str) -> None:
    fact = parse_medication(
        order(medicationCodeableConcept=None, medicationReference={"reference": reference}),
        {key: ELIQUIS},
    )
    assert (RXNORM, "1364430") in fact.codes
    assert fact.problem is None


def test_unresolved_reference_is_a_problem_and_keeps_the_display() -> None:
    fact = parse_medication(
        order(
            medicationCodeableConcept=None,
            medicationReference={"reference": "Medication/missing", "display": "Xarelto"},
        ),
        {"Medication/eliquis": ELIQUIS},
    )
    assert fact.codes == frozenset()
    assert fact.display == "Xarelto"
    assert fact.problem == "its Medication Medication/missing could not be resolved"


def test_contained_reference_does_not_match_other_contained_types() -> None:
    fact = parse_medication(
        order(
            medicationCodeableConcept=None,
            contained=[{"resourceType": "Substance", "id": "med0"}],
            medicationReference={"reference": "#med0"},
        ),
        {},
    )
    assert fact.problem is not None
    assert "could not be resolved" in fact.problem


def test_order_that_names_no_medication_is_a_problem() -> None:
    fact = parse_medication(order(medicationCodeableConcept=None), {})
    assert fact.codes == frozenset()
    assert fact.problem is not None
    assert "names no medication" in fact.problem


def test_text_only_medication_keeps_its_text_without_codes() -> None:
    fact = parse_medication(order(medicationCodeableConcept={"text": "warfarin 5 mg"}), {})
    assert fact.codes == frozenset()
    assert fact.display == "warfarin 5 mg"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"effectiveDateTime": "2025-12-01"}, date(2025, 12, 1)),
        ({"effectivePeriod": {"start": "2025-11-15T08:00:00Z"}}, date(2025, 11, 15)),
        # "Taking since 2025": the partial start gives way to dateAsserted.
        ({"effectivePeriod": {"start": "2025"}, "dateAsserted": "2026-02-02"}, date(2026, 2, 2)),
        ({"dateAsserted": "2026-02-02T09:00:00Z"}, date(2026, 2, 2)),
        ({}, None),
    ],
)
def test_medication_statement(extra: dict[str, Any], expected: date | None) -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [APIXABAN_IN]},
        **extra,
    }
    fact = parse_medication(statement, {})
    assert fact.ref == "MedicationStatement/ms1"
    assert fact.resource_type == "MedicationStatement"
    assert fact.intent is None
    assert fact.date == expected
    assert fact.codes == {(RXNORM, "1364430")}


def test_garbage_shapes_never_raise() -> None:
    fact = parse_medication(
        {
            "resourceType": "MedicationRequest",
            "status": 1,
            "intent": ["order"],
            "medicationReference": "Medication/x",
            "contained": "none",
            "authoredOn": {"date": "2026-01-01"},
        },
        {},
    )
    assert fact.status is None
    assert fact.intent is None
    assert fact.date is None
    assert fact.problem is not None
    assert "no id" in fact.problem
    assert "could not be resolved" in fact.problem


def test_an_order_not_to_give_the_drug_is_never_read_as_given() -> None:
    refused = parse_medication(order(doNotPerform=True), {})
    assert refused.status == DO_NOT_PERFORM
    assert refused.problem is None
    assert parse_medication(order(doNotPerform=False), {}).status == "active"
    odd = parse_medication(order(doNotPerform="yes"), {})
    assert odd.status is None  # to give or not to give: unknown, so the rules say unknown
    assert odd.problem == "doNotPerform 'yes' is not a boolean"


def test_a_do_not_perform_order_neither_counts_nor_keeps_the_rule_open() -> None:
    rule = {
        "type": "medication_history",
        "label": "Active anticoagulant",
        "medication_code_sets": ["anticoagulants"],
        "active_only": True,
        "absence": "not_met",
    }
    refused = parse_medication(order(doNotPerform=True), {})
    assert run(rule, record(medications=(refused,))).status == "not_met"
    given = parse_medication(order(), {})
    assert run(rule, record(medications=(given,))).status == "met"
    odd = parse_medication(order(doNotPerform="yes"), {})
    assert run(rule, record(medications=(odd,))).status == "unknown"
