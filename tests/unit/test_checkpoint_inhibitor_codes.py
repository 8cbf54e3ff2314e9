"""Prior checkpoint inhibitors as real systems code them: ATC codes from before the 2022
revision (pembrolizumab L01XC18, now L01FF02), and PD-1 antibodies whose ingredient code
we do not hold (several trials here recruit where sintilimab, tislelizumab, toripalimab or
serplulimab are standard), ordered under a product code we do not know. Neither may read
as "no prior immunotherapy"."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.facts import ATC, RXNORM
from fhir_mappings.record import build_record
from fhir_mappings.terminology import load_terminology
from tests.unit.test_engine_rules import run
from tests.unit.test_rules_generic import PRIOR_ICI

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-05-01", "gender": "male"}
ANTICANCER = {
    "type": "medication_history",
    "label": "Prior anti-cancer therapy",
    "medication_code_sets": ["antineoplastic_agents"],
    "active_only": False,
    "absence": "not_met",
}


def given(concept: dict[str, Any]) -> Any:
    order = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "completed",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2025-11-02",
        "medicationCodeableConcept": concept,
    }
    return build_record([PATIENT, order])


@pytest.mark.parametrize(
    ("code", "drug"),
    [
        ("L01XC11", "ipilimumab"),
        ("L01XC17", "nivolumab"),
        ("L01XC18", "pembrolizumab"),
        ("L01XC28", "durvalumab"),
        ("L01XC31", "avelumab"),
        ("L01XC32", "atezolizumab"),
        ("L01XC33", "cemiplimab"),
    ],
)
def test_a_pre_2022_atc_code_is_a_prior_checkpoint_inhibitor(code: str, drug: str) -> None:
    result = run(
        PRIOR_ICI, given({"coding": [{"system": ATC, "code": code, "display": drug}]}), lookback=365
    )
    assert (result.status, result.evidence[0].reference) == ("met", "MedicationRequest/m1")


def test_another_antibody_of_the_old_class_is_not_a_checkpoint_inhibitor() -> None:
    cetuximab = given({"coding": [{"system": ATC, "code": "L01XC06", "display": "cetuximab"}]})
    assert run(PRIOR_ICI, cetuximab, lookback=365).status == "not_met"
    assert run(ANTICANCER, cetuximab, lookback=365).status == "met"


@pytest.mark.parametrize(
    ("display", "drug"),
    [
        ("serplulimab 100 MG in 10 ML Injection", "serplulimab"),
        ("Tevimbra 100 MG/10ML Injection", "tislelizumab"),
        ("LOQTORZI 240 MG", "toripalimab"),
        ("sintilimab 200 mg", "sintilimab"),
        ("camrelizumab", "camrelizumab"),
        ("Jemperli 500 MG", "dostarlimab"),
        ("Bavencio 200 MG/10ML", "avelumab"),
        ("Libtayo 350 MG", "cemiplimab"),
    ],
)
@pytest.mark.parametrize("rule", [PRIOR_ICI, ANTICANCER])
def test_a_pd1_antibody_named_under_an_unknown_product_code_keeps_the_history_open(
    display: str, drug: str, rule: dict[str, Any]
) -> None:
    record = given({"coding": [{"system": RXNORM, "code": "99999999", "display": display}]})
    result = run(rule, record, lookback=365)
    assert result.status == "unknown"
    assert result.reason == (
        f"{rule['label']}: MedicationRequest/m1 may be {drug}; code not recognised"
    )


def test_an_unrelated_drug_under_an_unknown_code_still_clears_the_history() -> None:
    record = given({"coding": [{"system": RXNORM, "code": "99999999", "display": "metformin"}]})
    assert run(PRIOR_ICI, record, lookback=365).status == "not_met"


@pytest.mark.parametrize("rule", [PRIOR_ICI, ANTICANCER])
def test_an_unnamed_product_code_we_do_not_hold_keeps_the_history_open(
    rule: dict[str, Any],
) -> None:
    """An RxNorm product code (pembrolizumab 25 MG/ML, say) with no text or display: it may
    be any drug, the one looked for included, so the record's silence clears nothing."""
    for concept in (
        {"coding": [{"system": RXNORM, "code": "99999999"}]},
        {"coding": [{"system": RXNORM, "code": "99999999", "display": " "}], "text": ""},
    ):
        result = run(rule, given(concept), lookback=365)
        assert result.status == "unknown"
        assert result.reason == (
            f"{rule['label']}: MedicationRequest/m1 is coded only as RxNorm 99999999, with no "
            "drug name, and the drug list does not hold that code: which drug it is cannot "
            "be told"
        )
        assert result.evidence[0].reference == "MedicationRequest/m1"


@pytest.mark.parametrize(
    ("coding", "expected"),
    [
        # A listed ingredient of another class: the code says which drug it is.
        ([{"system": RXNORM, "code": "11289"}], "not_met"),  # warfarin
        # The ATC code tells the class even when the RxNorm code is not held.
        ([{"system": RXNORM, "code": "99999999"}, {"system": ATC, "code": "A10BA02"}], "not_met"),
        ([{"system": RXNORM, "code": "99999999"}, {"system": ATC, "code": "L01FF02"}], "met"),
    ],
)
def test_an_unnamed_code_that_can_be_placed_decides(
    coding: list[dict[str, str]], expected: str
) -> None:
    assert run(PRIOR_ICI, given({"coding": coding}), lookback=365).status == expected


def test_an_unnamed_code_the_rules_code_set_holds_is_read_as_that_drug() -> None:
    """A code the criterion's own set lists decides, held in the drug list or not."""
    held = sorted(
        code
        for system, code in load_terminology().code_set("immune_checkpoint_inhibitors").codes
        if system == RXNORM
    )
    assert held
    result = run(PRIOR_ICI, given({"coding": [{"system": RXNORM, "code": held[0]}]}), lookback=365)
    assert result.status == "met"
