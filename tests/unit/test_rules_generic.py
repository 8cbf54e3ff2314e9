"""The generic primitives of the criteria language: met / not_met and every unknown path.

Facts are built by hand (no FHIR parsing) and each rule runs through a one-criterion
definition validated like a real one (see test_engine_rules.run).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from cds_hooks.eligibility import CriterionResult, Engine
from cds_hooks.trials.loader import parse_trial
from fhir_mappings.facts import (
    ATC,
    ICD10CM,
    ICDO3,
    LOINC,
    RXNORM,
    SNOMED,
    AllergyFact,
    ConditionFact,
    DiagnosticReportFact,
    MedicationFact,
    ObservationComponent,
    ObservationFact,
    ObservationValue,
    PatientFact,
    PatientRecord,
    ProcedureFact,
    Quantity,
)
from fhir_mappings.terminology import load_terminology
from tests.unit.test_engine_rules import AS_OF, cond, day, med, obs

TERMINOLOGY = load_terminology()


def rec(
    *observations: ObservationFact,
    gender: str | None = "male",
    conditions: tuple[ConditionFact, ...] = (),
    medications: tuple[MedicationFact, ...] = (),
    procedures: tuple[ProcedureFact, ...] = (),
    allergies: tuple[AllergyFact, ...] = (),
    reports: tuple[DiagnosticReportFact, ...] = (),
    unavailable: dict[str, str] | None = None,
) -> PatientRecord:
    def newest(facts: Any) -> tuple[Any, ...]:
        return tuple(sorted(facts, key=lambda f: f.date or date.min, reverse=True))

    return PatientRecord(
        patient=PatientFact("Patient/p", date(1960, 5, 1), "day", gender),
        observations=newest(observations),
        conditions=newest(conditions),
        medications=newest(medications),
        procedures=newest(procedures),
        allergies=newest(allergies),
        reports=newest(reports),
        unavailable=unavailable or {},
    )


def run(
    rule: dict[str, Any],
    record: PatientRecord,
    *,
    lookback: int = 3650,
    role: str = "inclusion",
    registry: str = "NCT0",
) -> CriterionResult:
    raw = {
        "id": "one-rule",
        "title": "One rule",
        "short_title": "One rule",
        "summary": "test",
        "registry": {"id": registry, "url": "https://example.org", "status": "recruiting"},
        "target_condition": {"code_sets": ["rectal_cancer_dx"]},
        "treatment_orders": {"code_sets": []},
        "lookback_days": lookback,
        "criteria": [{"id": "c", "title": "C", "role": role, "kind": "data", "rule": rule}],
    }
    engine = Engine([parse_trial(raw, "test")], TERMINOLOGY)
    return engine.screen(record, AS_OF).trials[0].criteria[0]


# --------------------------------------------------------------------------- sex
def test_sex() -> None:
    rule = {"type": "sex", "label": "Sex", "sex": "female"}
    assert run(rule, rec(gender="female")).status == "met"
    assert run(rule, rec(gender="male")).status == "not_met"
    assert run(rule, rec(gender="unknown")).status == "unknown"
    assert run(rule, rec(gender=None)).status == "unknown"


# --------------------------------------------------------------------------- condition
PROSTATE = (ICD10CM, "C61")
RECTAL = (ICD10CM, "C20")
SKIN_BCC = (ICD10CM, "C44.91")


def malignancy(absence: str = "not_met", **extra: Any) -> dict[str, Any]:
    return {
        "type": "condition",
        "label": "Other malignancy",
        "code_sets": ["malignancy_dx"],
        "except_code_sets": ["rectal_cancer_dx", "non_melanoma_skin_cancer_dx"],
        "active_only": False,
        "absence": absence,
        **extra,
    }


def test_condition_present_within_the_window_with_except_sets() -> None:
    met = run(malignancy(), rec(conditions=(cond(PROSTATE, days=400),)), lookback=1826)
    assert met.status == "met"
    assert met.evidence[0].date == day(400).isoformat()
    # The trial's own cancer and non-melanoma skin cancer are excepted: a clear.
    cleared = run(malignancy(), rec(conditions=(cond(RECTAL), cond(SKIN_BCC))), lookback=1826)
    assert cleared.status == "not_met"
    assert cleared.evidence[0].reference == "Condition?patient=p"
    # Before the 5-year window: decided by the dated record.
    old = run(malignancy(), rec(conditions=(cond(PROSTATE, days=2500),)), lookback=1826)
    assert (old.status, "more than 1826 days ago" in old.reason) == ("not_met", True)


def metastasis(**extra: Any) -> dict[str, Any]:
    return {
        "type": "condition",
        "label": "Metastasis",
        "code_sets": ["secondary_malignancy_dx"],
        "uncertain_code_sets": ["lymph_node_secondary_unsure_region_dx"],
        "active_only": True,
        "absence": "not_met",
        **extra,
    }


PELVIC_NODES = (ICD10CM, "C77.5")
LIVER_MET = (ICD10CM, "C78.7")
AXILLARY_NODES = (ICD10CM, "C77.3")


def test_a_code_too_broad_to_tell_is_unknown_never_met_or_cleared() -> None:
    # Intrapelvic nodes may be regional (N+) or distant (M1) for a rectal primary.
    nodes = run(metastasis(), rec(conditions=(cond(PELVIC_NODES),)), lookback=90)
    assert nodes.status == "unknown"
    assert "coded too broadly to tell" in nodes.reason
    assert "cannot tell N+ from M1" in nodes.reason
    assert [e.note for e in nodes.evidence] == ["coded too broadly to tell"]
    # Without the uncertain set the same code counts as metastasis (the code set's own
    # reading): the parameter, not the code set, makes the difference.
    plain = metastasis(uncertain_code_sets=[])
    assert run(plain, rec(conditions=(cond(PELVIC_NODES),)), lookback=90).status == "met"
    # A specific code decides, with or without a broad one beside it.
    both = rec(conditions=(cond(PELVIC_NODES), cond(LIVER_MET)))
    assert run(metastasis(), both, lookback=90).status == "met"
    assert run(metastasis(), rec(conditions=(cond(AXILLARY_NODES),))).status == "met"
    # One Condition coded both broadly and specifically is decided by the specific code.
    one = rec(conditions=(cond(PELVIC_NODES, LIVER_MET),))
    assert run(metastasis(), one, lookback=90).status == "met"
    # Before the window: still active, it may be current (the rule asks what is present
    # now); asked about a period (`within_days`), it is history.
    old = rec(conditions=(cond(PELVIC_NODES, days=400),))
    assert run(metastasis(), old, lookback=90).status == "unknown"
    assert run(metastasis(within_days=90), old).status == "not_met"
    # Inactive ones never count, broad or not.
    resolved = rec(conditions=(cond(PELVIC_NODES, clinical="resolved"),))
    assert run(metastasis(), resolved, lookback=90).status == "not_met"
    # Undated: unknown, and the reason has no "on None".
    undated = run(metastasis(), rec(conditions=(cond(PELVIC_NODES, days=None),)), lookback=90)
    assert undated.status == "unknown"
    assert "None" not in undated.reason


def test_an_active_condition_dated_before_the_window_is_not_cleared() -> None:
    # "Is there a metastasis now?": an active liver metastasis diagnosed 400 days ago was
    # never closed, so the 90-day window cannot clear it (nor count it as current).
    liver = rec(conditions=(cond(LIVER_MET, days=400),))
    result = run(metastasis(uncertain_code_sets=[]), liver, lookback=90)
    assert result.status == "unknown"
    assert "still recorded as active" in result.reason
    assert result.evidence[0].date == day(400).isoformat()
    # Resolved since: cleared. Asked about a period instead ("within 90 days"): history.
    resolved = rec(conditions=(cond(LIVER_MET, days=400, clinical="resolved"),))
    assert run(metastasis(uncertain_code_sets=[]), resolved, lookback=90).status == "not_met"
    period = metastasis(uncertain_code_sets=[], within_days=90)
    assert run(period, liver).status == "not_met"
    # Not limited to active ones: dated outside the window is an answer.
    history = {**malignancy(), "active_only": False}
    assert run(history, rec(conditions=(cond(PROSTATE, days=400),)), lookback=90).status == (
        "not_met"
    )


def test_condition_unknown_paths() -> None:
    undated = run(malignancy(), rec(conditions=(cond(PROSTATE, days=None),)))
    assert (undated.status, "without a date" in undated.reason) == ("unknown", True)
    down = run(malignancy(), rec(unavailable={"Condition": "timeout"}))
    assert (down.status, "could not be retrieved" in down.reason) == ("unknown", True)
    silent = run(malignancy(absence="unknown"), rec())
    assert silent.status == "unknown"
    assert "absence from the record is not proof" in silent.reason
    # Refuted diagnoses never count.
    refuted = rec(conditions=(cond(PROSTATE, verification="refuted"),))
    assert run(malignancy(), refuted).status == "not_met"


def test_condition_active_only_and_own_window() -> None:
    ibd = {
        "type": "condition",
        "label": "Active IBD",
        "code_sets": ["inflammatory_bowel_disease_dx"],
        "active_only": True,
        "absence": "not_met",
    }
    crohn = (ICD10CM, "K50.90")
    assert run(ibd, rec(conditions=(cond(crohn),))).status == "met"
    assert run(ibd, rec(conditions=(cond(crohn, clinical="resolved"),))).status == "not_met"
    assert run(ibd, rec(conditions=(cond(crohn, clinical=None),))).status == "unknown"
    mi = {
        "type": "condition",
        "label": "MI in 6 months",
        "code_sets": ["myocardial_infarction_dx"],
        "active_only": False,
        "within_days": 183,
        "absence": "not_met",
    }
    infarct = (ICD10CM, "I21.9")
    assert run(mi, rec(conditions=(cond(infarct, days=100),)), lookback=36500).status == "met"
    assert run(mi, rec(conditions=(cond(infarct, days=300),)), lookback=36500).status == "not_met"


def test_exclusion_cleared_by_absence_only_where_the_definition_says_so() -> None:
    assert run(malignancy(), rec(), role="exclusion").status == "not_met"
    assert run(malignancy(absence="unknown"), rec(), role="exclusion").status == "unknown"


# --------------------------------------------------------------------------- histology
SIGNET = {
    "type": "histology",
    "label": "Signet ring",
    "histology_code_sets": ["signet_ring_histology"],
    "disease_code_sets": ["rectal_cancer_dx"],
}


def test_histology_paths() -> None:
    signet = cond(RECTAL, histology=frozenset({(ICDO3, "8490/3")}))
    adeno = cond(RECTAL, histology=frozenset({(ICDO3, "8140/3")}))
    assert run(SIGNET, rec(conditions=(signet,))).status == "met"
    assert run(SIGNET, rec(conditions=(adeno,))).status == "not_met"
    # No histology anywhere: cannot say either way.
    assert run(SIGNET, rec(conditions=(cond(RECTAL),))).status == "unknown"
    report = DiagnosticReportFact(
        "DiagnosticReport/r",
        frozenset(),
        "final",
        day(20),
        "signet ring cell carcinoma",
        frozenset({(ICDO3, "8490/3")}),
    )
    assert run(SIGNET, rec(conditions=(cond(RECTAL),), reports=(report,))).status == "met"
    assert run(SIGNET, rec(unavailable={"Condition": "down"})).status == "unknown"


def test_a_report_conclusion_that_is_no_histology_decides_nothing() -> None:
    # A chest CT concluding "normal" (SNOMED 17621005) records no histology at all.
    ct = DiagnosticReportFact(
        "DiagnosticReport/ct",
        frozenset(),
        "final",
        day(10),
        "Normal",
        frozenset({(SNOMED, "17621005")}),
    )
    result = run(SIGNET, rec(conditions=(cond(RECTAL),), reports=(ct,)))
    assert result.status == "unknown"
    assert "no histology recorded" in result.reason
    # An ICD-O-3 conclusion is one, whatever it says.
    adeno = DiagnosticReportFact(
        "DiagnosticReport/path",
        frozenset(),
        "final",
        day(10),
        "Adenocarcinoma",
        frozenset({(ICDO3, "8140/3")}),
    )
    assert run(SIGNET, rec(conditions=(cond(RECTAL),), reports=(adeno,))).status == "not_met"


def test_histology_from_a_pathology_observation() -> None:
    rule = {**SIGNET, "pathology_code_sets": ["pathology_histology_observation"]}
    signet = obs((LOINC, "59847-4"), days=10, coded=(ICDO3, "8490/3"))
    met = run(rule, rec(signet, conditions=(cond(RECTAL),)))
    assert met.status == "met"
    assert met.evidence[0].reference == signet.ref
    adeno = obs((LOINC, "59847-4"), days=10, coded=(ICDO3, "8140/3"))
    assert run(rule, rec(adeno, conditions=(cond(RECTAL),))).status == "not_met"
    # Preliminary pathology decides nothing.
    draft = obs((LOINC, "59847-4"), days=10, coded=(ICDO3, "8490/3"), status="preliminary")
    assert run(rule, rec(draft, conditions=(cond(RECTAL),))).status == "unknown"
    # Without the parameter the Observation is not read.
    assert run(SIGNET, rec(signet, conditions=(cond(RECTAL),))).status == "unknown"


def test_signet_ring_is_not_in_the_adenocarcinoma_set() -> None:
    assert not TERMINOLOGY.code_set("adenocarcinoma_histology").matches({(ICDO3, "8490/3")})
    assert TERMINOLOGY.code_set("signet_ring_histology").matches({(ICDO3, "8490/3")})


# --------------------------------------------------------------------------- counts
SITES = {
    "type": "distinct_count",
    "label": "Metastatic sites",
    "code_sets": ["secondary_malignancy_dx"],
    "group_code_set": "metastasis_body_site",
    "op": "<=",
    "value": 2,
}
LIVER = (SNOMED, "94381002")
LUNG = (SNOMED, "94391008")
BONE = (ICD10CM, "C79.51")


def test_distinct_count_paths() -> None:
    two = rec(conditions=(cond(LIVER), cond(LIVER), cond(LUNG)))
    assert run(SITES, two).status == "met"
    three = rec(conditions=(cond(LIVER), cond(LUNG), cond(BONE)))
    assert run(SITES, three).status == "not_met"
    unplaced = rec(conditions=(cond((ICD10CM, "C79.9")),))
    assert run(SITES, unplaced).status == "unknown"
    assert run(SITES, rec(conditions=(cond(LIVER, days=None),))).status == "unknown"
    assert run(SITES, rec()).status == "unknown"


# --------------------------------------------------------------------------- coded / staging
CT = (SNOMED, "399504009")


def stage(lo: str, hi: str) -> dict[str, Any]:
    return {
        "type": "ordered_category",
        "label": "cT",
        "code_set": "ct_category",
        "values": "ajcc_t_values",
        "scale": ["T0", "Tis", "T1", "T2", "T3a", "T3b", "T3c", "T3d", "T4a", "T4b"],
        "aliases": {"T3": ["T3a", "T3b", "T3c", "T3d"], "T4": ["T4a", "T4b"]},
        "min": lo,
        "max": hi,
    }


@pytest.mark.parametrize(
    ("code", "lo", "hi", "expected"),
    [
        ("1228929004", "T1", "T3b", "met"),  # T2
        ("1228940007", "T1", "T3b", "met"),  # T3b
        ("1228945002", "T1", "T3b", "not_met"),  # T4a
        ("1228938002", "T1", "T3b", "unknown"),  # T3: could be T3a–T3d
        ("1228938002", "T3a", "T4b", "met"),  # T3 inside T3–T4 whatever its subcategory
        ("1222604002", "T1", "T3b", "unknown"),  # TX: not assessed
        ("999999", "T1", "T3b", "unknown"),  # not a category of this scale
    ],
)
def test_ordered_category(code: str, lo: str, hi: str, expected: str) -> None:
    fact = obs(CT, coded=(SNOMED, code), days=10)
    assert run(stage(lo, hi), rec(fact), lookback=90).status == expected


def test_ordered_category_needs_a_result_in_the_window() -> None:
    fact = obs(CT, coded=(SNOMED, "1228929004"), days=200)
    assert run(stage("T1", "T3b"), rec(fact), lookback=90).status == "unknown"


BREASTFEEDING = (LOINC, "63895-7")
FEEDING = {
    "type": "coded_value",
    "label": "Breastfeeding",
    "code_set": "breastfeeding_status",
    "met_values": "yes_values",
    "not_met_values": "no_values",
    "met_text": "breastfeeding",
    "not_met_text": "not breastfeeding",
}


def test_coded_value_paths() -> None:
    assert run(FEEDING, rec(obs(BREASTFEEDING, coded=(LOINC, "LA33-6"))), lookback=7).status == (
        "met"
    )
    assert run(FEEDING, rec(obs(BREASTFEEDING, coded=(LOINC, "LA32-8"))), lookback=7).status == (
        "not_met"
    )
    other = run(FEEDING, rec(obs(BREASTFEEDING, coded=(LOINC, "LA4489-6"))), lookback=7)
    assert (other.status, "answer not one" in other.reason) == ("unknown", True)
    assert run(FEEDING, rec(), lookback=7).status == "unknown"
    stale = rec(obs(BREASTFEEDING, coded=(LOINC, "LA33-6"), days=30))
    assert run(FEEDING, stale, lookback=7).status == "unknown"


def test_coded_value_from_a_panel_component() -> None:
    mlh1 = (LOINC, "81691-8")
    rule = {
        "type": "coded_value",
        "label": "MLH1",
        "code_set": "mmr_mlh1",
        "component": "mmr_mlh1",
        "met_values": "mmr_intact_values",
        "not_met_values": "mmr_loss_values",
        "met_text": "retained",
        "not_met_text": "lost",
    }
    panel = obs(
        (LOINC, "panel-x"),
        components=(
            ObservationComponent(
                frozenset({mlh1}), ObservationValue(codes=frozenset({(LOINC, "LA26198-4")}))
            ),
        ),
    )
    assert run(rule, rec(panel)).status == "not_met"


# --------------------------------------------------------------------------- components
SBP = (LOINC, "8480-6")


def test_threshold_on_a_component() -> None:
    rule = {
        "type": "lab_threshold",
        "label": "Systolic",
        "code_set": "blood_pressure",
        "component": "systolic_blood_pressure",
        "op": ">",
        "value": 160,
        "unit": "mm[Hg]",
    }

    def bp(value: float, unit: str = "mm[Hg]") -> ObservationFact:
        comp = ObservationComponent(
            frozenset({SBP}), ObservationValue(quantity=Quantity(value, unit))
        )
        return obs((LOINC, "85354-9"), components=(comp,), days=3)

    assert run(rule, rec(bp(172)), lookback=28).status == "met"
    assert run(rule, rec(bp(128)), lookback=28).status == "not_met"
    assert run(rule, rec(bp(17, "furlong")), lookback=28).status == "unknown"
    assert run(rule, rec(), lookback=28).status == "unknown"
    # A systolic value recorded as an Observation of its own counts too.
    assert run(rule, rec(obs(SBP, q=165, unit="mm[Hg]")), lookback=28).status == "met"


# --------------------------------------------------------------------------- derived
WBC = (LOINC, "6690-2")
NEUT = (LOINC, "770-8")
DERIVED_ANC = {
    "type": "derived_product",
    "label": "ANC",
    "factor": "wbc",
    "percent": "neutrophils_percent",
    "op": ">=",
    "value": 1.5,
    "unit": "10*9/L",
}


def test_anc_from_wbc_and_neutrophil_percent() -> None:
    ok = run(
        DERIVED_ANC, rec(obs(WBC, q=5.0, unit="10*9/L"), obs(NEUT, q=60, unit="%")), lookback=28
    )
    assert (ok.status, "3 10*9/L" in ok.reason) == ("met", True)
    low = run(
        DERIVED_ANC, rec(obs(WBC, q=2.0, unit="10*9/L"), obs(NEUT, q=50, unit="%")), lookback=28
    )
    assert low.status == "not_met"
    apart = rec(obs(WBC, q=5.0, unit="10*9/L", days=1), obs(NEUT, q=60, unit="%", days=3))
    assert run(DERIVED_ANC, apart, lookback=28).status == "unknown"
    assert run(DERIVED_ANC, rec(obs(WBC, q=5.0, unit="10*9/L")), lookback=28).status == "unknown"
    bounded = rec(obs(WBC, q=5.0, unit="10*9/L"), obs(NEUT, q=60, unit="%", comparator="<"))
    assert run(DERIVED_ANC, bounded, lookback=28).status == "unknown"


# --------------------------------------------------------------------------- report text
def test_report_number_with_its_own_anchor_and_modality() -> None:
    rule = {
        "type": "report_number",
        "label": "Lower border",
        "code_set": "distance_from_anal_verge",
        "op": "<",
        "value": 16,
        "unit": "cm",
        "report_code_sets": ["mri_pelvis_report"],
        "anchor": "dentate line",
        "modality": "rigid rectoscopy",
    }

    def report(text: str) -> DiagnosticReportFact:
        return DiagnosticReportFact("DiagnosticReport/r", frozenset(), "final", day(5), text)

    met = run(
        rule, rec(reports=(report("Lower border 9 cm above the dentate line."),)), lookback=90
    )
    assert (met.status, "rigid rectoscopy report" in met.reason) == ("met", True)
    assert (
        run(rule, rec(reports=(report("Tumour 9 cm from the anal verge."),)), lookback=90).status
        == "unknown"
    )


# --------------------------------------------------------------------------- history
NIVOLUMAB = (RXNORM, "1597876")
PD1_ATC = (ATC, "L01FF01")
PRIOR_ICI = {
    "type": "medication_history",
    "label": "Prior immune checkpoint inhibitor",
    "medication_code_sets": ["immune_checkpoint_inhibitors"],
    "active_only": False,
    "absence": "not_met",
}


def test_medication_history_paths() -> None:
    given = med(NIVOLUMAB, status="completed")
    assert run(PRIOR_ICI, rec(medications=(given,)), lookback=36500).status == "met"
    # Matched by ATC class prefix, as a statement.
    statement = med(PD1_ATC, resource_type="MedicationStatement", status="completed")
    assert run(PRIOR_ICI, rec(medications=(statement,)), lookback=36500).status == "met"
    # Cancelled orders and proposals were never given.
    never = (med(NIVOLUMAB, status="cancelled"), med(NIVOLUMAB, intent="proposal"))
    assert run(PRIOR_ICI, rec(medications=never), lookback=36500).status == "not_met"
    before = run(PRIOR_ICI, rec(medications=(given,)), lookback=10)
    assert (before.status, "before the 10-day window" in before.reason) == ("not_met", True)


LONG_TERM = {
    "type": "medication_history",
    "label": "Long-term immunosuppressant",
    "medication_code_sets": ["immunosuppressants"],
    "active_only": True,
    "absence": "not_met",
    "min_days_active": 90,
}
DEXAMETHASONE = (ATC, "H02AB02")


def _active_since(days_ago: int | None) -> MedicationFact:
    return MedicationFact(
        "MedicationRequest/dex",
        "MedicationRequest",
        frozenset({DEXAMETHASONE}),
        "active",
        "order",
        day(days_ago) if days_ago is not None else None,
        "dexamethasone",
    )


def test_long_term_use_needs_an_active_order_older_than_min_days() -> None:
    long_term = run(LONG_TERM, rec(medications=(_active_since(200),)), lookback=36500)
    assert long_term.status == "met"
    assert long_term.evidence[0].date == day(200).isoformat()
    assert run(LONG_TERM, rec(medications=(_active_since(90),)), lookback=36500).status == "met"
    # A short course (an antiemetic dexamethasone) may or may not go on: unknown, and so
    # is an active order with no start date; never an exclusion on its own.
    short = run(LONG_TERM, rec(medications=(_active_since(4),)), lookback=36500)
    assert short.status == "unknown"
    assert "not yet 90 days" in short.reason
    assert f"since {day(4).isoformat()}" in short.reason
    undated = run(LONG_TERM, rec(medications=(_active_since(None),)), lookback=36500)
    assert (undated.status, "no start date" in undated.reason) == ("unknown", True)
    # One long-term order decides, whatever shorter ones stand beside it.
    both = rec(medications=(_active_since(4), _active_since(400)))
    assert run(LONG_TERM, both, lookback=36500).status == "met"
    # Without the parameter an active order counts from its first day.
    any_active = {k: v for k, v in LONG_TERM.items() if k != "min_days_active"}
    assert run(any_active, rec(medications=(_active_since(4),)), lookback=36500).status == "met"
    assert run(LONG_TERM, rec(), lookback=36500).status == "not_met"


def test_medication_history_unknown_paths() -> None:
    undated = MedicationFact(
        "MedicationRequest/x",
        "MedicationRequest",
        frozenset({NIVOLUMAB}),
        "completed",
        "order",
        None,
    )
    assert run(PRIOR_ICI, rec(medications=(undated,)), lookback=36500).status == "unknown"
    uncoded = MedicationFact(
        "MedicationStatement/y",
        "MedicationStatement",
        frozenset(),
        "active",
        None,
        day(5),
        "herbal",
    )
    assert run(PRIOR_ICI, rec(medications=(uncoded,)), lookback=36500).status == "unknown"
    down = rec(unavailable={"MedicationStatement": "timeout"})
    assert run(PRIOR_ICI, down, lookback=36500).status == "unknown"
    silent = {**PRIOR_ICI, "absence": "unknown"}
    assert run(silent, rec(), lookback=36500).status == "unknown"


def test_active_immunosuppressant() -> None:
    rule = {
        **PRIOR_ICI,
        "label": "Active immunosuppressant",
        "medication_code_sets": ["immunosuppressants"],
        "active_only": True,
    }
    tacrolimus = (RXNORM, "42316")
    assert run(rule, rec(medications=(med(tacrolimus),))).status == "met"
    assert run(rule, rec(medications=(med(tacrolimus, status="stopped"),))).status == "not_met"


RADIOTHERAPY = {
    "type": "procedure_history",
    "label": "Prior radiotherapy",
    "procedure_code_sets": ["treatment_radiotherapy"],
    "absence": "not_met",
}
EBRT = (SNOMED, "33195004")


def procedure(status: str = "completed", days: int | None = 300) -> ProcedureFact:
    return ProcedureFact("Procedure/x", frozenset({EBRT}), status, day(days) if days else None)


def test_procedure_history_paths() -> None:
    assert run(RADIOTHERAPY, rec(procedures=(procedure(),)), lookback=36500).status == "met"
    assert run(RADIOTHERAPY, rec(procedures=(procedure("not-done"),)), lookback=36500).status == (
        "not_met"
    )
    assert run(RADIOTHERAPY, rec(procedures=(procedure(days=None),)), lookback=36500).status == (
        "unknown"
    )
    down = rec(unavailable={"Procedure": "HTTP 503"})
    assert run(RADIOTHERAPY, down, lookback=36500).status == "unknown"


ALLERGY = {
    "type": "allergy",
    "label": "Allergy to the therapy",
    "substance_code_sets": ["therapy_component_allergens"],
    "absence": "not_met",
}
OXALIPLATIN = (RXNORM, "32592")


def allergy(codes: frozenset[tuple[str, str]], verification: str = "confirmed") -> AllergyFact:
    return AllergyFact(
        "AllergyIntolerance/a", codes, "active", verification, day(800), "oxaliplatin"
    )


def test_allergy_paths() -> None:
    assert (
        run(ALLERGY, rec(allergies=(allergy(frozenset({OXALIPLATIN})),)), lookback=36500).status
        == "met"
    )
    refuted = allergy(frozenset({OXALIPLATIN}), verification="refuted")
    assert run(ALLERGY, rec(allergies=(refuted,)), lookback=36500).status == "not_met"
    assert run(ALLERGY, rec(allergies=(allergy(frozenset()),)), lookback=36500).status == "unknown"
    down = rec(unavailable={"AllergyIntolerance": "timeout"})
    assert run(ALLERGY, down, lookback=36500).status == "unknown"


# --------------------------------------------------------------------------- logic
AGE = {"type": "age_range", "label": "Age", "min": 18}
TOO_OLD = {"type": "age_range", "label": "Age", "min": 90}
TEAM = {"type": "study_team", "reason": "a person decides"}


def test_study_team_is_always_unknown_with_its_reason() -> None:
    result = run(TEAM, rec())
    assert (result.status, result.reason) == ("unknown", "Needs the study team: a person decides")


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"type": "not", "rule": AGE}, "not_met"),
        ({"type": "not", "rule": TOO_OLD}, "met"),
        ({"type": "not", "rule": TEAM}, "unknown"),
        ({"type": "all_of", "rules": [AGE, TEAM]}, "unknown"),
        ({"type": "all_of", "rules": [TOO_OLD, TEAM]}, "not_met"),
        ({"type": "any_of", "rules": [AGE, TEAM]}, "met"),
        ({"type": "any_of", "rules": [TOO_OLD, TEAM]}, "unknown"),
        ({"type": "first_decided", "rules": [TEAM, TOO_OLD]}, "not_met"),
    ],
)
def test_kleene_logic(rule: dict[str, Any], expected: str) -> None:
    assert run(rule, rec()).status == expected


def test_when_applies_then_only_when_the_condition_holds() -> None:
    def when(condition: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "when",
            "condition": condition,
            "then": then,
            "otherwise": "met",
            "otherwise_text": "does not apply",
        }

    assert run(when(AGE, TOO_OLD), rec()).status == "not_met"  # applies
    skipped = run(when(TOO_OLD, TOO_OLD), rec())  # does not apply: otherwise, with evidence
    assert (skipped.status, skipped.reason.startswith("does not apply")) == ("met", True)
    # Condition unknown: decided only when both branches agree.
    assert run(when(TEAM, AGE), rec()).status == "met"
    assert run(when(TEAM, TOO_OLD), rec()).status == "unknown"


def test_attestation_scope_any_and_trial() -> None:
    local = ("http://trial-cds-hooks.org/fhir/CodeSystem/screening", "informed-consent-signed")
    study = ("http://trial-cds-hooks.org/fhir/CodeSystem/screening", "research-study")
    rule = {
        "type": "attestation",
        "label": "Consent",
        "code_set": "consent_signed",
        "scope": "trial",
        "study_component": "research_study",
    }

    def signed(registry: str | None) -> ObservationFact:
        parts = (
            (ObservationComponent(frozenset({study}), ObservationValue(text=registry)),)
            if registry
            else ()
        )
        return obs(local, boolean=True, components=parts)

    assert run(rule, rec(signed("NCT1")), registry="NCT1", lookback=365).status == "met"
    assert run(rule, rec(signed("NCT2")), registry="NCT1", lookback=365).status == "unknown"
    assert run(rule, rec(signed(None)), registry="NCT1", lookback=365).status == "unknown"
    anyone = {**rule, "scope": "any"}
    del anyone["study_component"]
    assert run(anyone, rec(signed(None)), registry="NCT1", lookback=365).status == "met"


def _partial(onset_span: tuple[int, int], recorded_days_ago: int) -> ConditionFact:
    """An MI whose onset is known only between `onset_span` days ago (older, newer), read
    through a recordedDate `recorded_days_ago` days ago."""
    older, newer = onset_span
    return dataclasses.replace(
        cond((SNOMED, "22298006"), days=recorded_days_ago), onset_span=(day(older), day(newer))
    )


MI_WITHIN = {
    "type": "condition",
    "label": "Myocardial infarction in the last 6 months",
    "code_sets": ["myocardial_infarction_dx"],
    "active_only": False,
    "within_days": 183,
    "absence": "not_met",
}


def test_a_partial_onset_is_not_dated_by_its_recorded_date() -> None:
    # Onset "2025" (365 to 0 days ago, say), recorded 50 days ago: inside or before the
    # 183-day window cannot be told.
    across = run(MI_WITHIN, rec(conditions=(_partial((400, 60), 50),)))
    assert across.status == "unknown"
    assert "whether it lies inside the 183-day window cannot be told" in across.reason
    # Wholly inside the window: counts; wholly before it: history.
    assert run(MI_WITHIN, rec(conditions=(_partial((100, 60), 50),))).status == "met"
    assert run(MI_WITHIN, rec(conditions=(_partial((500, 300), 50),))).status == "not_met"
    # A question about the present (active, no within_days) is not about the onset.
    active = {**MI_WITHIN, "active_only": True, "within_days": None}
    assert run(active, rec(conditions=(_partial((400, 60), 50),)), lookback=90).status == "met"


ANC_DIRECT = {
    "type": "lab_threshold",
    "label": "ANC",
    "code_set": "anc",
    "op": ">=",
    "value": 1.5,
    "unit": "10*9/L",
}


def test_first_decided_newest_lets_the_later_measurement_decide() -> None:
    newest = {"type": "first_decided", "newest": True, "rules": [ANC_DIRECT, DERIVED_ANC]}
    in_order = {"type": "first_decided", "rules": [ANC_DIRECT, DERIVED_ANC]}
    direct_older = obs((LOINC, "751-8"), q=3.2, unit="10*9/L", days=10)
    # A later blood count: WBC 2.0 × 40 % = 0.8.
    later_cbc = (obs(WBC, q=2.0, unit="10*9/L", days=2), obs(NEUT, q=40, unit="%", days=2))
    record = rec(direct_older, *later_cbc)
    result = run(newest, record, lookback=28)
    assert result.status == "not_met"
    assert "0.8" in result.reason
    assert run(in_order, record, lookback=28).status == "met"  # preference order, as before
    # The direct ANC newer than the count: it decides.
    direct_newer = obs((LOINC, "751-8"), q=3.2, unit="10*9/L", days=1)
    assert run(newest, rec(direct_newer, *later_cbc), lookback=28).status == "met"
    # Only one route decides: that one.
    assert run(newest, rec(*later_cbc), lookback=28).status == "not_met"
