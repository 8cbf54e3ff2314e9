"""Prior radiotherapy and chemotherapy as real systems code them: ICD-10-PCS (US inpatient),
CPT (US billing) and OPS (Germany), not only SNOMED CT. Each must count as the therapy, and
neighbouring codes of the same ranges that are not that therapy must not."""

from __future__ import annotations

import pytest

from fhir_mappings.facts import ProcedureFact
from tests.unit.test_engine_rules import day
from tests.unit.test_rules_generic import RADIOTHERAPY, rec, run

PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
CPT = "http://www.ama-assn.org/go/cpt"
OPS = "http://fhir.de/CodeSystem/bfarm/ops"
OPS_OLD = "http://fhir.de/CodeSystem/dimdi/ops"
CHEMO = {
    "type": "procedure_history",
    "label": "Prior chemotherapy",
    "procedure_code_sets": ["chemotherapy_procedure"],
    "absence": "not_met",
}


def done(system: str, code: str) -> ProcedureFact:
    return ProcedureFact("Procedure/p", frozenset({(system, code)}), "completed", day(200))


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (PCS, "DD1089Z"),  # rectum, beam radiation
        (PCS, "DW0"),  # anatomical regions (as a category)
        (CPT, "77385"),  # IMRT delivery
        (CPT, "77427"),  # radiation treatment management
        (CPT, "77263"),  # treatment planning
        (CPT, "77520"),  # proton beam
        (CPT, "77770"),  # brachytherapy
        (OPS, "8-522.91"),
        (OPS_OLD, "8-52"),
    ],
)
def test_radiotherapy_codes_count(system: str, code: str) -> None:
    result = run(RADIOTHERAPY, rec(procedures=(done(system, code),)), lookback=36500)
    assert result.status == "met", result.reason


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (PCS, "0DTP0ZZ"),  # a resection of the rectum, not radiation
        (PCS, "BD20ZZZ"),  # imaging of the gastrointestinal tract
        (CPT, "77080"),  # bone densitometry
        (CPT, "77600"),  # hyperthermia
        (CPT, "45395"),  # laparoscopic proctectomy
        (OPS, "8-530"),  # nuclear medicine therapy, another group
        (OPS, "5-484.2"),  # a rectal resection
    ],
)
def test_neighbouring_codes_are_not_radiotherapy(system: str, code: str) -> None:
    result = run(RADIOTHERAPY, rec(procedures=(done(system, code),)), lookback=36500)
    assert result.status == "not_met", result.reason


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("8-542.11", "met"),
        ("8-543.22", "met"),
        ("8-544", "met"),
        ("8-547.0", "not_met"),  # other immunotherapy
        ("8-548.0", "not_met"),  # antiretroviral therapy
        # The group alone may be chemotherapy, immunotherapy or antiretroviral therapy: counted
        # (the trials exclude prior immunotherapy too; a wrong exclusion over a wrong clear).
        ("8-54", "met"),
    ],
)
def test_ops_chemotherapy_codes(code: str, status: str) -> None:
    result = run(CHEMO, rec(procedures=(done(OPS, code),)), lookback=36500)
    assert result.status == status, result.reason
