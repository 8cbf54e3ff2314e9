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


SNOMED = "http://snomed.info/sct"


def named(code: str, display: str, days: int = 200) -> ProcedureFact:
    return ProcedureFact(
        "Procedure/p", frozenset({(SNOMED, code)}), "completed", day(days), display=display
    )


@pytest.mark.parametrize(
    ("rule", "display"),
    [
        (RADIOTHERAPY, "Intensity modulated radiation therapy (procedure)"),
        (RADIOTHERAPY, "Radionuclide brachytherapy"),
        (RADIOTHERAPY, "SBRT to liver"),
        (RADIOTHERAPY, "Perkutane Bestrahlung"),
        (CHEMO, "Antineoplastic chemotherapy regimen"),
        (CHEMO, "FOLFOX cycle 3"),
        (CHEMO, "Biochemotherapy"),
        (RADIOTHERAPY, "IMRT (pelvis)"),
    ],
)
def test_a_therapy_named_under_a_code_we_do_not_hold_keeps_the_history_open(
    rule: dict[str, object], display: str
) -> None:
    """SNOMED CT has many children of 'radiotherapy' that the set does not list (no
    hierarchy is loaded here): one named so in words may be the therapy looked for."""
    result = run(rule, rec(procedures=(named("999999001", display),)), lookback=36500)
    assert result.status == "unknown"
    assert result.reason == (
        f"{rule['label']}: Procedure/p ({display}) may be one; its code is not in the list"
    )


@pytest.mark.parametrize(
    "display",
    [
        "Colonoscopy",
        "Excision of rectal polyp",
        "Echocardiography",
        "Imrtestal examination",  # an acronym counts only as a word of its own
        "Transfusion of red cells",
    ],
)
def test_other_procedures_still_clear(display: str) -> None:
    result = run(RADIOTHERAPY, rec(procedures=(named("999999001", display),)), lookback=36500)
    assert result.status == "not_met"


def test_a_named_therapy_before_the_window_decides_nothing() -> None:
    old = named("999999001", "Radiotherapy of pelvis", days=400)
    result = run(RADIOTHERAPY, rec(procedures=(old,)), lookback=365)
    assert result.status == "not_met"


CHEMO_OR_BIOLOGIC = {**CHEMO, "uncertain_code_sets": ["chemotherapy_or_biologic_administration"]}


def test_a_chemotherapy_or_biologic_infusion_code_keeps_the_history_open() -> None:
    """CPT 96413 is billed for chemotherapy and for a complex biologic (infliximab) alike:
    it can neither count as chemotherapy nor be read as none."""
    result = run(CHEMO_OR_BIOLOGIC, rec(procedures=(done(CPT, "96413"),)), lookback=36500)
    assert result.status == "unknown"
    assert result.reason == (
        f"Prior chemotherapy: Procedure/p on {day(200).isoformat()} may be one (CPT "
        "chemotherapy or highly complex biologic agent administration: the code does not "
        "say which drug was given)"
    )


@pytest.mark.parametrize(
    ("procedures", "expected"),
    [
        ((done(CPT, "96523"),), "not_met"),  # irrigation of a venous access device
        ((done(CPT, "96413"), done(OPS, "8-542.11")), "met"),  # a clear chemotherapy decides
        ((ProcedureFact("Procedure/p", frozenset({(CPT, "96413")}), "completed", day(400)),),
         "not_met"),  # before the window
    ],
)  # fmt: skip
def test_other_codes_and_clear_records_still_decide(
    procedures: tuple[ProcedureFact, ...], expected: str
) -> None:
    result = run(CHEMO_OR_BIOLOGIC, rec(procedures=procedures), lookback=365)
    assert result.status == expected, result.reason
