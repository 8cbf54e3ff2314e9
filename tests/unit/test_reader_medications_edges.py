"""The MedicationRequest / MedicationStatement reader at every edge: every status and
intent, the drug by concept, by reference (contained, in the record, unresolved), products
expanded to ingredients, drugs named only in text, the date alternatives, no id."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhir_mappings.facts import ATC, RXNORM, MedicationFact
from fhir_mappings.medications import load_ingredient_map, parse_medication

APIXABAN = (RXNORM, "1364430")
APIXABAN_ATC = (ATC, "B01AF02")
APIXABAN_5MG = (RXNORM, "1364445")  # a clinical drug (SCD) of apixaban
UNKNOWN_DRUG = (RXNORM, "999999999")
REQUEST_STATUSES = [
    "active",
    "on-hold",
    "cancelled",
    "completed",
    "entered-in-error",
    "stopped",
    "draft",
    "unknown",
]
STATEMENT_STATUSES = [
    "active",
    "completed",
    "entered-in-error",
    "intended",
    "stopped",
    "on-hold",
    "unknown",
    "not-taken",
]
INTENTS = [
    "proposal",
    "plan",
    "order",
    "original-order",
    "reflex-order",
    "filler-order",
    "instance-order",
    "option",
]


def concept(
    *codes: tuple[str, str], text: str | None = None, display: str | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "coding": [
            {"system": s, "code": c, **({"display": display} if display else {})} for s, c in codes
        ]
    }
    if text is not None:
        found["text"] = text
    return found


def request(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        **fields,
    }


def parse(resource: dict[str, Any], medications: dict[str, Any] | None = None) -> MedicationFact:
    return parse_medication(resource, medications or {})


def test_a_complete_order_by_ingredient() -> None:
    fact = parse(
        request(
            medicationCodeableConcept=concept(APIXABAN, text="Apixaban"),
            authoredOn="2026-01-05T09:00:00Z",
        )
    )
    assert fact == MedicationFact(
        ref="MedicationRequest/m1",
        resource_type="MedicationRequest",
        codes=frozenset({APIXABAN}),
        status="active",
        intent="order",
        date=date(2026, 1, 5),
        display="Apixaban",
        problem=None,
        possible_drugs=(),
        possible_codes=frozenset(),
    )


@pytest.mark.parametrize("status", REQUEST_STATUSES)
@pytest.mark.parametrize("intent", INTENTS)
def test_every_request_status_and_intent_is_kept(status: str, intent: str) -> None:
    fact = parse(request(status=status, intent=intent, medicationCodeableConcept=concept(APIXABAN)))
    assert (fact.status, fact.intent) == (status, intent)


@pytest.mark.parametrize("status", STATEMENT_STATUSES)
def test_every_statement_status_is_kept(status: str) -> None:
    fact = parse(
        {
            "resourceType": "MedicationStatement",
            "id": "s1",
            "status": status,
            "medicationCodeableConcept": concept(APIXABAN),
        }
    )
    assert (fact.ref, fact.resource_type, fact.status, fact.intent) == (
        "MedicationStatement/s1",
        "MedicationStatement",
        status,
        None,
    )


@pytest.mark.parametrize("value", [None, 1, {"code": "active"}])
def test_status_and_intent_that_are_not_strings_are_none(value: object) -> None:
    fact = parse(request(status=value, intent=value, medicationCodeableConcept=concept(APIXABAN)))
    assert (fact.status, fact.intent) == (None, None)


def test_a_product_is_expanded_to_its_ingredient() -> None:
    fact = parse(request(medicationCodeableConcept=concept(APIXABAN_5MG)))
    assert fact.codes == {APIXABAN_5MG, APIXABAN, APIXABAN_ATC}
    assert fact.possible_drugs == ()


def test_an_ingredient_map_can_be_given() -> None:
    drugs = load_ingredient_map()
    fact = parse_medication(request(medicationCodeableConcept=concept(APIXABAN_5MG)), {}, drugs)
    assert fact.codes == {APIXABAN_5MG, APIXABAN, APIXABAN_ATC}


def test_a_map_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(
        json.dumps(
            {
                "ingredients": {
                    "zeta": {"rxnorm": "1", "atc": ["Z01"], "names": ["Zetamab"]},
                    "eta": {"atc": []},
                    "theta": {"rxnorm": "3"},  # no ATC code
                },
                "products": [
                    {"system": RXNORM, "code": "10", "ingredient": "zeta"},
                    {"system": RXNORM, "code": "11", "ingredient": "eta"},
                    {"system": RXNORM, "code": "12", "ingredient": "missing"},
                ],
            }
        ),
        encoding="utf-8",
    )
    drugs = load_ingredient_map(path)
    assert drugs.codes_of_ingredient == {
        "zeta": {(RXNORM, "1"), (ATC, "Z01")},
        "eta": frozenset(),
        "theta": {(RXNORM, "3")},
    }
    assert drugs.ingredients_of == {(RXNORM, "10"): {(RXNORM, "1"), (ATC, "Z01")}}
    assert drugs.known == {(RXNORM, "10"), (RXNORM, "1"), (ATC, "Z01"), (RXNORM, "3")}
    assert drugs.expand(frozenset({(RXNORM, "10")})) == {
        (RXNORM, "10"),
        (RXNORM, "1"),
        (ATC, "Z01"),
    }
    assert drugs.expand(frozenset({(RXNORM, "11")})) == {(RXNORM, "11")}
    # Names are whole words, any case; an ingredient without names is named by itself.
    assert drugs.named_in(["ZETAMAB 5 mg"]) == ("zeta",)
    assert drugs.named_in(["zeta 5 mg"]) == ()
    assert drugs.named_in(["Zetamabs"]) == ()
    assert drugs.named_in(["eta"]) == ("eta",)
    assert drugs.named_in(["Zetamab", "eta", "zetamab"]) == ("zeta", "eta")
    fact = parse_medication(
        request(medicationCodeableConcept=concept(text="Zetamab IV")), {}, drugs
    )
    assert fact.possible_drugs == ("zeta",)
    assert fact.possible_codes == {(RXNORM, "1"), (ATC, "Z01")}


def test_a_drug_named_only_in_text_is_possible_not_certain() -> None:
    fact = parse(request(medicationCodeableConcept=concept(text="Eliquis 5 mg")))
    assert fact.codes == frozenset()
    assert fact.possible_drugs == ("apixaban",)
    assert fact.possible_codes == {APIXABAN, APIXABAN_ATC}
    assert fact.display == "Eliquis 5 mg"


def test_an_unrecognised_code_with_a_named_drug_is_possible() -> None:
    fact = parse(
        request(medicationCodeableConcept=concept(UNKNOWN_DRUG, display="apixaban 2.5 mg"))
    )
    assert fact.codes == {UNKNOWN_DRUG}
    assert fact.possible_drugs == ("apixaban",)


@pytest.mark.parametrize("code", [APIXABAN, APIXABAN_5MG, (ATC, "N02BE01")])
def test_a_recognised_code_makes_the_text_irrelevant(code: tuple[str, str]) -> None:
    # Any ATC code is a classification: the drug is known, whatever its text says.
    fact = parse(request(medicationCodeableConcept=concept(code, text="with warfarin")))
    assert fact.possible_drugs == ()
    assert fact.possible_codes == frozenset()


def test_a_contained_medication() -> None:
    fact = parse(
        request(
            medicationReference={"reference": "#med", "display": "Apixaban tablets"},
            contained=[
                {"resourceType": "Substance", "id": "med", "code": concept(UNKNOWN_DRUG)},
                {
                    "resourceType": "Medication",
                    "id": "med",
                    "code": concept(APIXABAN_5MG, display="apixaban 5 MG Oral Tablet"),
                },
            ],
        )
    )
    assert fact.codes == {APIXABAN_5MG, APIXABAN, APIXABAN_ATC}
    assert fact.display == "apixaban 5 MG Oral Tablet"
    assert fact.problem is None


def test_a_medication_of_the_record_with_ingredients() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "x",
        "code": {"text": "Combination tablet"},
        "ingredient": [
            {"itemCodeableConcept": concept(APIXABAN)},
            {"itemReference": {"reference": "Substance/s"}},
            "not an ingredient",
        ],
    }
    fact = parse(
        request(medicationReference={"reference": "Medication/x"}), {"Medication/x": medication}
    )
    assert fact.codes == {APIXABAN}
    assert fact.display == "Combination tablet"


def test_the_reference_display_stands_in_for_a_medication_without_a_display() -> None:
    medication = {"resourceType": "Medication", "id": "x", "code": concept(UNKNOWN_DRUG)}
    fact = parse(
        request(medicationReference={"reference": "Medication/x", "display": "Eliquis"}),
        {"Medication/x": medication},
    )
    assert fact.display == "Eliquis"
    assert fact.possible_drugs == ("apixaban",)


@pytest.mark.parametrize(
    ("reference", "named"),
    [
        ({"reference": "Medication/gone", "display": "Eliquis"}, "Medication/gone"),
        ({"reference": "#gone"}, "#gone"),
        ({"display": "Eliquis"}, "(no reference)"),
        ({"reference": ""}, "(no reference)"),
    ],
)
def test_an_unresolved_medication_is_a_problem(reference: dict[str, Any], named: str) -> None:
    fact = parse(request(medicationReference=reference))
    assert fact.codes == frozenset()
    assert fact.problem == f"its Medication {named} could not be resolved"
    expected = ("apixaban",) if reference.get("display") == "Eliquis" else ()
    assert fact.possible_drugs == expected
    assert fact.display == reference.get("display")


def test_a_contained_medication_is_not_looked_up_in_the_record() -> None:
    fact = parse(
        request(medicationReference={"reference": "#m"}),
        {"#m": {"resourceType": "Medication", "code": concept(APIXABAN)}},
    )
    assert fact.problem == "its Medication #m could not be resolved"


def test_an_order_naming_no_medication() -> None:
    fact = parse(request())
    assert fact.problem == "it names no medication (no medicationCodeableConcept or Reference)"
    assert (fact.codes, fact.display) == (frozenset(), None)


def test_the_concept_wins_over_a_reference() -> None:
    fact = parse(
        request(
            medicationCodeableConcept=concept(APIXABAN),
            medicationReference={"reference": "Medication/gone"},
        )
    )
    assert (fact.codes, fact.problem) == (frozenset({APIXABAN}), None)


@pytest.mark.parametrize(
    ("fields", "when"),
    [
        ({"authoredOn": "2026-01-05"}, date(2026, 1, 5)),
        ({"effectiveDateTime": "2026-01-06"}, date(2026, 1, 6)),
        ({"effectivePeriod": {"start": "2026-01-07", "end": "2026-02-07"}}, date(2026, 1, 7)),
        ({"dateAsserted": "2026-01-08T10:00:00Z"}, date(2026, 1, 8)),
        ({"effectivePeriod": {"start": "2025"}, "dateAsserted": "2026-01-08"}, date(2026, 1, 8)),
        ({"authoredOn": "2026-01", "effectiveDateTime": "2026-01-06"}, date(2026, 1, 6)),
        (
            {
                "authoredOn": "2026-01-05",
                "effectiveDateTime": "2026-01-06",
                "dateAsserted": "2026-01-08",
            },
            date(2026, 1, 5),
        ),
        ({"effectivePeriod": {"end": "2026-02-07"}}, None),
        ({"authoredOn": "bad"}, None),
        ({}, None),
    ],
)
def test_the_first_full_date_of_the_alternatives(fields: dict[str, Any], when: date | None) -> None:
    fact = parse(request(medicationCodeableConcept=concept(APIXABAN), **fields))
    assert fact.date == when
    assert fact.problem is None


@pytest.mark.parametrize("rid", [None, "", 3])
def test_an_order_without_an_id(rid: object) -> None:
    resource = request(medicationCodeableConcept=concept(APIXABAN))
    if rid is None:
        del resource["id"]
    else:
        resource["id"] = rid
    fact = parse(resource)
    assert fact.ref == "MedicationRequest/(no id)"
    assert fact.problem == "the resource has no id"
    no_med = dict(resource)
    del no_med["medicationCodeableConcept"]
    assert parse(no_med).problem == (
        "the resource has no id; it names no medication (no medicationCodeableConcept or Reference)"
    )
