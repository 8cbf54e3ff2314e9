"""Allergies to a trial's drugs as real systems record them: the substance by an RxNorm
product or ingredient code we may not hold, by a pre-2022 ATC code, or only in words. An
allergy that may be to a study drug must never read as "no such allergy"."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.allergies import parse_allergy
from fhir_mappings.facts import ATC, RXNORM, SNOMED
from fhir_mappings.record import build_record
from tests.unit.test_engine_rules import run

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-05-01", "gender": "male"}
RULE = {
    "type": "allergy",
    "label": "Allergy to a study drug",
    "substance_code_sets": ["therapy_component_allergens"],
    "absence": "not_met",
}


def allergy(code: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "recordedDate": "2025-05-01",
        "code": code,
        **extra,
    }


def screened(resource: dict[str, Any]) -> Any:
    return run(RULE, build_record([PATIENT, resource]), lookback=36500)


@pytest.mark.parametrize(
    "coding",
    [
        {"system": RXNORM, "code": "1547545", "display": "pembrolizumab"},  # ingredient
        {"system": RXNORM, "code": "1597876"},  # nivolumab, no display
        {"system": ATC, "code": "L01XC18"},  # pembrolizumab before the 2022 ATC revision
        {"system": ATC, "code": "L01FF02"},
        {"system": RXNORM, "code": "32592", "display": "oxaliplatin"},
    ],
)
def test_an_allergy_coded_as_the_drug_is_met(coding: dict[str, str]) -> None:
    result = screened(allergy({"coding": [coding]}))
    assert (result.status, result.evidence[0].reference) == ("met", "AllergyIntolerance/a1")


@pytest.mark.parametrize(
    ("code", "drug"),
    [
        ({"coding": [{"system": RXNORM, "code": "99999999", "display": "Keytruda 100 MG"}]},
         "pembrolizumab"),
        ({"coding": [{"system": RXNORM, "code": "99999999"}], "text": "Oxaliplatin"},
         "oxaliplatin"),
        ({"text": "capecitabine (Xeloda)"}, "capecitabine"),
        ({"coding": [{"system": SNOMED, "code": "395923008", "display": "Oxaliplatin"}]},
         "oxaliplatin"),
    ],
)  # fmt: skip
def test_an_allergy_naming_a_study_drug_under_an_unknown_code_is_unknown(
    code: dict[str, Any], drug: str
) -> None:
    result = screened(allergy(code))
    assert result.status == "unknown"
    assert result.reason == (
        f"Allergy to a study drug: AllergyIntolerance/a1 may be to {drug}; code not recognised"
    )


def test_the_drug_named_in_a_reaction_counts_too() -> None:
    reaction = {"substance": {"text": "nivolumab infusion"}}
    result = screened(allergy({"text": "Monoclonal antibodies"}, reaction=[reaction]))
    assert result.status == "unknown"
    assert "may be to nivolumab" in result.reason


def test_an_unnamed_rxnorm_code_we_do_not_hold_is_unknown() -> None:
    result = screened(allergy({"coding": [{"system": RXNORM, "code": "99999999"}]}))
    assert result.status == "unknown"
    assert result.reason == (
        "Allergy to a study drug: AllergyIntolerance/a1 is coded only as RxNorm 99999999, "
        "with no substance name, and the drug list does not hold that code: which drug it is "
        "cannot be told"
    )


@pytest.mark.parametrize(
    "code",
    [
        {"coding": [{"system": RXNORM, "code": "99999999", "display": "penicillin G"}]},
        {"coding": [{"system": RXNORM, "code": "11289"}]},  # warfarin: a listed drug's code
    ],
)
def test_an_allergy_to_another_drug_clears(code: dict[str, Any]) -> None:
    assert screened(allergy(code)).status == "not_met"


def test_a_product_code_gains_its_ingredient() -> None:
    fact = parse_allergy(allergy({"coding": [{"system": RXNORM, "code": "855332"}]}))
    assert (RXNORM, "11289") in fact.codes  # warfarin sodium 5 MG Oral Tablet → warfarin
    assert not fact.unplaced
    assert fact.possible_drugs == ()
