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
