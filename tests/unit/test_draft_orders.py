"""Draft orders (order-select / order-sign) and the record's medications are read by one
reader: ingredient codes of a product or a referenced Medication count, and an order whose
code is not recognised but whose text names a listed drug is "may be", never "none"."""

from __future__ import annotations

from datetime import date
from typing import Any

from cds_hooks.cards import starts_treatment
from cds_hooks.eligibility import Engine
from fhir_mappings.facts import ATC, RXNORM
from fhir_mappings.medications import load_ingredient_map, parse_medication
from fhir_mappings.record import build_record

ENGINE = Engine.default()
SCRT = "scrt-capeox-serplulimab-rectal"
TRIAL = ENGINE.trials["scrt-capeox-serplulimab-rectal"]
LOCAL = "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288"


def order(concept: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "rx",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        **extra,
    }
    if concept is not None:
        resource["medicationCodeableConcept"] = concept
    return resource


def test_draft_order_whose_medication_names_the_ingredient_only_in_its_ingredients() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"coding": [{"system": LOCAL, "code": "99871"}], "text": "CAPECITABINE 500 MG TAB"},
        "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "194000"}]}}],
    }
    draft = order(medicationReference={"reference": "Medication/m1"})
    bundle = {"entry": [{"resource": draft}, {"resource": medication}]}
    assert starts_treatment(bundle, TRIAL, ENGINE.terminology) == ["CAPECITABINE 500 MG TAB"]


def test_product_code_maps_to_its_ingredient() -> None:
    fact = parse_medication(order({"coding": [{"system": RXNORM, "code": "1364445"}]}), {})
    assert {(RXNORM, "1364430"), (ATC, "B01AF02")} <= fact.codes
    assert fact.possible_drugs == ()


def test_unrecognised_code_with_a_listed_drug_in_its_text() -> None:
    fact = parse_medication(
        order({"coding": [{"system": LOCAL, "code": "216842", "display": "ELIQUIS 5 MG PO TABS"}]}),
        {},
    )
    assert fact.possible_drugs == ("apixaban",)
    assert (RXNORM, "1364430") in fact.possible_codes


def test_recognised_or_unrelated_orders_name_no_possible_drug() -> None:
    # An ATC code is always read as what it says, whatever the text.
    atc = parse_medication(order({"coding": [{"system": ATC, "code": "A10BA02"}], "text": "x"}), {})
    assert atc.possible_drugs == ()
    plain = parse_medication(order({"text": "metformin 500 mg"}), {})
    assert plain.possible_drugs == ()
    # Whole words only.
    assert load_ingredient_map().named_in(["warfarinase"]) == ()


def test_may_be_a_listed_drug_is_unknown_never_none_active() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1960-01-01"}
    active = order(
        {"coding": [{"system": LOCAL, "code": "5"}], "text": "Xarelto 20 mg tablet"},
        status="active",
    )
    record = build_record([patient, active])
    result = ENGINE.screen(record, date(2026, 3, 2), [SCRT]).trials[0].criterion("anticoagulants")
    assert result.status == "unknown"
    assert "may be rivaroxaban; code not recognised" in result.reason
    # A listed drug of another class (a trial treatment) does not block this criterion.
    capecitabine = order({"text": "Xeloda 500 mg"}, status="active", id="rx2")
    other = ENGINE.screen(build_record([patient, capecitabine]), date(2026, 3, 2), [SCRT])
    assert "may be" not in other.trials[0].criterion("anticoagulants").reason


def test_a_product_code_we_do_not_map_with_a_drug_name_of_a_history_class_is_unknown() -> None:
    # An RxNorm code outside the map (a branded product) is readable, so without its text
    # it would read as "not a checkpoint inhibitor"; its text names one, by brand or by
    # ingredient. Both the prior-immunotherapy and the prior-chemotherapy classes.
    patient = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1960-01-01"}
    for text, drug, criterion in (
        ("KEYTRUDA 100 MG/4 ML IV SOLN", "pembrolizumab", "prior_immunotherapy"),
        ("pembrolizumab 25 MG/ML Injectable Solution", "pembrolizumab", "prior_immunotherapy"),
        ("Opdivo 240 mg infusion", "nivolumab", "prior_immunotherapy"),
    ):
        given = order(
            {"coding": [{"system": RXNORM, "code": "9999901", "display": text}]},
            status="completed",
            authoredOn="2024-05-01",
        )
        result = ENGINE.screen(build_record([patient, given]), date(2026, 3, 2), [SCRT])
        outcome = result.trials[0].criterion(criterion)
        assert (outcome.status, outcome.reason) == (
            "unknown",
            f"Prior immune checkpoint inhibitor: MedicationRequest/rx may be {drug}; "
            "code not recognised",
        )
    for text, drug in (("Avastin 400 mg", "bevacizumab"), ("5-fluorouracil bolus", "fluorouracil")):
        fact = parse_medication(
            order({"coding": [{"system": RXNORM, "code": "1", "display": text}]}), {}
        )
        assert fact.possible_drugs == (drug,)
    steroid = parse_medication(
        order(
            {"coding": [{"system": RXNORM, "code": "2", "display": "predniSONE 5 MG Oral Tablet"}]}
        ),
        {},
    )
    assert steroid.possible_drugs == ("prednisone",)
