"""Each rule type's met / not_met / unknown paths, on facts built by hand.

Facts are constructed directly (no FHIR parsing) so these tests pin the engine alone; every
rule runs through a one-criterion trial definition parsed and validated like a real one.
"""

from __future__ import annotations

from datetime import date, timedelta
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
    Code,
    ConditionFact,
    DiagnosticReportFact,
    MedicationFact,
    ObservationComponent,
    ObservationFact,
    ObservationValue,
    PatientFact,
    PatientRecord,
    Quantity,
    ReferenceRange,
)
from fhir_mappings.terminology import load_terminology

AS_OF = date(2026, 3, 2)
LOCAL = "http://trial-cds-hooks.org/fhir/CodeSystem/screening"
TERMINOLOGY = load_terminology()
_counter = iter(range(1_000_000))


def day(days_before: int) -> date:
    return AS_OF - timedelta(days=days_before)


def obs(
    code: Code,
    *,
    days: int = 1,
    status: str = "final",
    q: float | None = None,
    unit: str | None = None,
    comparator: str | None = None,
    integer: int | None = None,
    coded: Code | None = None,
    boolean: bool | None = None,
    text: str | None = None,
    high: float | None = None,
    high_unit: str | None = None,
    applies_to: frozenset[Code] = frozenset(),
    components: tuple[ObservationComponent, ...] = (),
    absent: str | None = None,
) -> ObservationFact:
    ranges = (
        (ReferenceRange(high=Quantity(high, high_unit or unit), applies_to=applies_to),)
        if high is not None
        else ()
    )
    return ObservationFact(
        ref=f"Observation/o{next(_counter)}",
        codes=frozenset({code}),
        status=status,
        date=day(days),
        value=ObservationValue(
            quantity=Quantity(q, unit, comparator) if q is not None else None,
            codes=frozenset({coded}) if coded else frozenset(),
            text=text,
            integer=integer,
            boolean=boolean,
            data_absent_reason=absent,
        ),
        reference_ranges=ranges,
        components=components,
    )


def cond(
    *codes: Code,
    days: int | None = 60,
    verification: str | None = "confirmed",
    clinical: str | None = "active",
    histology: frozenset[Code] = frozenset(),
    body_sites: frozenset[Code] = frozenset(),
) -> ConditionFact:
    return ConditionFact(
        ref=f"Condition/c{next(_counter)}",
        codes=frozenset(codes),
        clinical_status=clinical,
        verification_status=verification,
        date=day(days) if days is not None else None,
        histology=histology,
        body_sites=body_sites,
    )


def med(
    code: Code,
    *,
    resource_type: str = "MedicationRequest",
    status: str = "active",
    intent: str | None = "order",
    display: str | None = None,
) -> MedicationFact:
    return MedicationFact(
        ref=f"{resource_type}/m{next(_counter)}",
        resource_type=resource_type,
        codes=frozenset({code}),
        status=status,
        intent=intent if resource_type == "MedicationRequest" else None,
        date=day(30),
        display=display,
    )


def record(
    *observations: ObservationFact,
    gender: str | None = "male",
    birth: date | None = date(1960, 5, 1),
    precision: str | None = "day",
    conditions: tuple[ConditionFact, ...] = (),
    medications: tuple[MedicationFact, ...] = (),
    reports: tuple[DiagnosticReportFact, ...] = (),
    unavailable: dict[str, str] | None = None,
) -> PatientRecord:
    def newest_first(facts: Any) -> tuple[Any, ...]:
        return tuple(sorted(facts, key=lambda f: f.date or date.min, reverse=True))

    return PatientRecord(
        patient=PatientFact("Patient/p", birth, precision if birth else None, gender),
        observations=newest_first(observations),
        conditions=newest_first(conditions),
        medications=newest_first(medications),
        reports=newest_first(reports),
        unavailable=unavailable or {},
    )


def run(
    rule: dict[str, Any], rec: PatientRecord, *, lookback: int = 28, kind: str = "data"
) -> CriterionResult:
    raw = {
        "id": "one-rule",
        "title": "One rule",
        "short_title": "One rule",
        "summary": "test",
        "registry": {"id": "NCT0", "url": "https://example.org", "status": "recruiting"},
        "target_condition": {"code_sets": ["rectal_cancer_dx"]},
        "treatment_orders": {"code_sets": []},
        "lookback_days": lookback,
        "criteria": [{"id": "c", "title": "C", "role": "inclusion", "kind": kind, "rule": rule}],
    }
    engine = Engine([parse_trial(raw, "test")], TERMINOLOGY)
    return engine.screen(rec, AS_OF).trials[0].criteria[0]


ANC = (LOINC, "751-8")
ANC_ALT = (LOINC, "26499-4")
HB = (LOINC, "718-7")
TBIL = (LOINC, "1975-2")
ALT = (LOINC, "1742-6")
AST = (LOINC, "1920-8")
CREAT = (LOINC, "2160-0")
WEIGHT = (LOINC, "29463-7")
CRCL = (LOINC, "2164-2")
ECOG = (LOINC, "89247-1")
DIP = (LOINC, "5804-0")
UP24 = (LOINC, "2889-4")

ANC_RULE = {
    "type": "lab_threshold",
    "label": "ANC",
    "code_set": "anc",
    "op": ">=",
    "value": 1.5,
    "unit": "10*9/L",
}


# --------------------------------------------------------------------------- age
AGE = {"type": "age_range", "label": "Age", "min": 18, "max": 75}


def test_age_met_not_met_and_unknown() -> None:
    met = run(AGE, record(birth=date(1960, 5, 1)))
    assert (met.status, met.evidence[0].value) == ("met", 65)
    # 76th birthday the day before the as-of date.
    assert run(AGE, record(birth=date(1950, 3, 1))).status == "not_met"
    # 75 until the day before the 76th birthday: still inside 18–75.
    assert run(AGE, record(birth=date(1950, 3, 3))).status == "met"
    assert run(AGE, record(birth=None)).status == "unknown"


def test_partial_birth_year_straddling_the_limit_is_unknown() -> None:
    # Born some day in 1950: 75 or 76 on 2026-03-02.
    result = run(AGE, record(birth=date(1950, 1, 1), precision="year"))
    assert result.status == "unknown"
    assert "straddles" in result.reason
    assert run(AGE, record(birth=date(1970, 1, 1), precision="year")).status == "met"


# --------------------------------------------------------------------------- diagnosis
DIAGNOSIS = {
    "type": "diagnosis",
    "label": "Diagnosis",
    "histology_name": "adenocarcinoma",
    "confirmed_code_sets": ["rectal_adenocarcinoma_dx"],
    "disease_code_sets": ["rectal_cancer_dx"],
    "histology_code_sets": ["adenocarcinoma_histology"],
    "absent_reason": "no rectal adenocarcinoma on record",
}
RECTAL_ADENO = (SNOMED, "254582000")
C20 = (ICD10CM, "C20")
HISTOLOGY = frozenset({(ICDO3, "8140/3")})


def diagnose(rec: PatientRecord, lookback: int = 3650) -> CriterionResult:
    return run(DIAGNOSIS, rec, lookback=lookback)


def test_diagnosis_paths() -> None:
    assert diagnose(record(conditions=(cond(RECTAL_ADENO),))).status == "met"
    with_histology = diagnose(record(conditions=(cond(C20, histology=HISTOLOGY),)))
    assert with_histology.status == "met"
    assert with_histology.evidence[0].date == day(60).isoformat()
    bare = diagnose(record(conditions=(cond(C20),)))
    assert bare.status == "unknown"
    assert "without histology" in bare.reason
    none = diagnose(record())
    assert (none.status, none.reason) == ("not_met", "No rectal adenocarcinoma on record")


def test_histology_from_a_final_pathology_report() -> None:
    report = DiagnosticReportFact(
        ref="DiagnosticReport/path",
        codes=frozenset({(LOINC, "60568-3")}),
        status="final",
        date=day(50),
        conclusion="Adenocarcinoma, moderately differentiated",
        conclusion_codes=frozenset({(SNOMED, "35917007")}),
    )
    result = diagnose(record(conditions=(cond(C20),), reports=(report,)))
    assert result.status == "met"
    assert [e.reference for e in result.evidence][1] == "DiagnosticReport/path"
    preliminary = DiagnosticReportFact(
        **{**{f: getattr(report, f) for f in report.__slots__}, "status": "preliminary"}
    )
    assert diagnose(record(conditions=(cond(C20),), reports=(preliminary,))).status == ("unknown")


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_diagnosis_does_not_count(verification: str) -> None:
    result = diagnose(record(conditions=(cond(RECTAL_ADENO, verification=verification),)))
    assert result.status == "not_met"
    assert "refuted or entered in error" in result.reason


def test_resolved_or_undated_diagnosis_is_unknown() -> None:
    resolved = diagnose(record(conditions=(cond(RECTAL_ADENO, clinical="resolved"),)))
    assert resolved.status == "unknown"
    assert "resolved" in resolved.reason
    undated = diagnose(record(conditions=(cond(RECTAL_ADENO, days=None),)))
    assert undated.status == "unknown"


def test_diagnosis_outside_the_window_is_unknown() -> None:
    old = diagnose(record(conditions=(cond(RECTAL_ADENO, days=60),)), lookback=28)
    assert old.status == "unknown"
    assert "60 days ago, before this criterion's 28-day window" in old.reason
    future = diagnose(record(conditions=(cond(RECTAL_ADENO, days=-5),)))
    assert future.status == "unknown"
    assert "after the screening date" in future.reason


# --------------------------------------------------------------------------- lab_threshold
def test_lab_threshold_met_and_not_met_with_any_loinc_of_the_set() -> None:
    assert run(ANC_RULE, record(obs(ANC_ALT, q=1.5, unit="10*9/L"))).status == "met"
    low = run(ANC_RULE, record(obs(ANC, q=1.4, unit="10*9/L")))
    assert low.status == "not_met"
    assert "< 1.5 10*9/L" in low.reason


def test_lab_threshold_converts_units() -> None:
    # 1,400 cells/µL = 1.4 × 10⁹/L.
    assert run(ANC_RULE, record(obs(ANC, q=1400, unit="/uL"))).status == "not_met"
    hb = {**ANC_RULE, "label": "Hb", "code_set": "hemoglobin", "value": 10.0, "unit": "g/dL"}
    result = run(hb, record(obs(HB, q=105, unit="g/L")))
    assert result.status == "met"
    assert result.evidence[0].note == "= 10.5 g/dL"
    assert (result.evidence[0].value, result.evidence[0].unit) == (105, "g/L")


def test_unknown_unit_is_unknown_with_the_unit_named() -> None:
    result = run(ANC_RULE, record(obs(ANC, q=2.0, unit="bananas")))
    assert result.status == "unknown"
    assert "unit 'bananas' not recognised" in result.reason


def test_stale_result_is_unknown_and_named() -> None:
    result = run(ANC_RULE, record(obs(ANC, q=3.0, unit="10*9/L", days=91)))
    assert result.status == "unknown"
    assert "no result in the last 28 days" in result.reason
    assert f"latest {day(91).isoformat()}" in result.reason
    assert "91 days old" in result.reason


def test_window_is_inclusive_and_future_results_are_ignored() -> None:
    assert run(ANC_RULE, record(obs(ANC, q=3.0, unit="10*9/L", days=28))).status == "met"
    assert run(ANC_RULE, record(obs(ANC, q=3.0, unit="10*9/L", days=-1))).status == "unknown"


@pytest.mark.parametrize("status", ["preliminary", "registered", "cancelled", "entered-in-error"])
def test_result_that_is_not_final_is_unknown_and_said(status: str) -> None:
    result = run(ANC_RULE, record(obs(ANC, q=3.0, unit="10*9/L", days=3, status=status)))
    assert result.status == "unknown"
    assert f"{status} result on {day(3).isoformat()}" in result.reason


def test_not_final_newer_result_does_not_hide_an_older_final_one() -> None:
    rec = record(
        obs(ANC, q=1.0, unit="10*9/L", days=1, status="preliminary"),
        obs(ANC, q=2.0, unit="10*9/L", days=5, status="amended"),
    )
    assert run(ANC_RULE, rec).status == "met"


def test_same_day_results_that_disagree_are_unknown() -> None:
    rec = record(obs(ANC, q=1.2, unit="10*9/L", days=2), obs(ANC, q=2.4, unit="10*9/L", days=2))
    result = run(ANC_RULE, rec)
    assert result.status == "unknown"
    assert f"2 results on {day(2).isoformat()} disagree" in result.reason
    assert len(result.evidence) == 2
    # Same day, same verdict: decided.
    rec = record(obs(ANC, q=1.8, unit="10*9/L", days=2), obs(ANC, q=2.4, unit="10*9/L", days=2))
    assert run(ANC_RULE, rec).status == "met"
    # A preliminary result the same day is not a second opinion.
    rec = record(
        obs(ANC, q=2.4, unit="10*9/L", days=2),
        obs(ANC, q=1.0, unit="10*9/L", days=2, status="preliminary"),
    )
    assert run(ANC_RULE, rec).status == "met"
    tbil = record(obs(TBIL, q=1.0, unit="mg/dL", days=1), obs(TBIL, q=3.0, unit="mg/dL", days=1))
    assert run(TBIL_RULE, tbil).status == "unknown"


def test_data_absent_reason_is_unknown() -> None:
    result = run(ANC_RULE, record(obs(ANC, absent="error", days=2)))
    assert result.status == "unknown"
    assert "data absent: error" in result.reason


def test_most_recent_result_decides() -> None:
    rec = record(obs(ANC, q=3.0, unit="10*9/L", days=10), obs(ANC, q=1.0, unit="10*9/L", days=2))
    assert run(ANC_RULE, rec).status == "not_met"


@pytest.mark.parametrize(
    ("op", "threshold", "comparator", "value", "expected"),
    [
        ("<=", 1.8, "<", 0.3, "met"),  # every value below 0.3 is ≤ 1.8
        ("<=", 0.2, "<", 0.3, "unknown"),  # could be 0.1 or 0.29
        (">=", 10, "<", 5, "not_met"),  # nothing below 5 reaches 10
        (">=", 1.5, ">", 2.0, "met"),
        ("<=", 1.5, ">", 2.0, "not_met"),
        ("<", 1.0, "<=", 1.0, "unknown"),  # exactly 1.0 is allowed
        ("<", 1.0, "<", 1.0, "met"),
    ],
)
def test_comparators_are_intervals(
    op: str, threshold: float, comparator: str, value: float, expected: str
) -> None:
    rule = {**ANC_RULE, "op": op, "value": threshold}
    rec = record(obs(ANC, q=value, unit="10*9/L", comparator=comparator))
    result = run(rule, rec)
    assert result.status == expected
    assert f"reported as {comparator}" in (result.evidence[0].note or "")


ECOG_RULE = {
    "type": "lab_threshold",
    "label": "ECOG",
    "code_set": "ecog",
    "op": "<=",
    "value": 1,
    "unit": "{score}",
}


def test_ecog_from_answer_code_or_integer() -> None:
    assert run(ECOG_RULE, record(obs(ECOG, coded=(LOINC, "LA9623-5")))).status == "met"
    assert run(ECOG_RULE, record(obs(ECOG, coded=(LOINC, "LA9624-3")))).status == "not_met"
    assert run(ECOG_RULE, record(obs(ECOG, integer=0))).status == "met"
    assert run(ECOG_RULE, record(obs(ECOG, integer=3))).status == "not_met"
    odd = run(ECOG_RULE, record(obs(ECOG, coded=(LOCAL, "fit"))))
    assert odd.status == "unknown"
    assert "coded value" in odd.reason


# --------------------------------------------------------------------------- × ULN
TBIL_RULE = {
    "type": "lab_uln_multiple",
    "label": "Total bilirubin",
    "code_set": "total_bilirubin",
    "max_multiple": 1.5,
    "limit": "total_bilirubin",
}


def test_uln_from_the_observation_reference_range() -> None:
    result = run(TBIL_RULE, record(obs(TBIL, q=1.6, unit="mg/dL", high=1.0)))
    assert result.status == "not_met"
    assert result.evidence[0].note == "ULN 1 mg/dL from the Observation's referenceRange"


def test_uln_from_the_default_table_is_named() -> None:
    # Default ULN 1.2 mg/dL: 1.6 ≤ 1.8.
    result = run(TBIL_RULE, record(obs(TBIL, q=1.6, unit="mg/dL")))
    assert result.status == "met"
    assert result.evidence[0].note is not None
    assert result.evidence[0].note.startswith("default ULN 1.2 mg/dL")


def test_reference_range_in_another_unit_is_converted() -> None:
    # ULN 21 µmol/L ≈ 1.23 mg/dL; value 2.0 mg/dL > 1.5 × 1.23.
    result = run(TBIL_RULE, record(obs(TBIL, q=2.0, unit="mg/dL", high=21, high_unit="umol/L")))
    assert result.status == "not_met"
    # Value in µmol/L against a mg/dL range: 25 µmol/L ≈ 1.46 mg/dL ≤ 1.5 × 1.0.
    result = run(TBIL_RULE, record(obs(TBIL, q=25, unit="umol/L", high=1.0, high_unit="mg/dL")))
    assert result.status == "met"


def test_sex_specific_reference_range_is_chosen() -> None:
    male = frozenset({(SNOMED, "248153007")})
    female = frozenset({(SNOMED, "248152002")})
    fact = ObservationFact(
        ref="Observation/alt",
        codes=frozenset({ALT}),
        status="final",
        date=day(2),
        value=ObservationValue(quantity=Quantity(100, "U/L")),
        reference_ranges=(
            ReferenceRange(high=Quantity(30, "U/L"), applies_to=female),
            ReferenceRange(high=Quantity(45, "U/L"), applies_to=male),
        ),
    )
    rule = {**TBIL_RULE, "label": "ALT", "code_set": "alt", "max_multiple": 3, "limit": "alt"}
    assert run(rule, record(fact, gender="male")).status == "met"  # 100 ≤ 135
    assert run(rule, record(fact, gender="female")).status == "not_met"  # 100 > 90


def test_comparator_below_any_uln_is_met() -> None:
    result = run(TBIL_RULE, record(obs(TBIL, q=0.3, unit="mg/dL", comparator="<")))
    assert result.status == "met"


def test_no_sex_neutral_default_is_unknown() -> None:
    rule = {**TBIL_RULE, "label": "Creatinine", "code_set": "creatinine", "limit": "creatinine"}
    result = run(rule, record(obs(CREAT, q=1.0, unit="mg/dL"), gender="unknown"))
    assert result.status == "unknown"
    assert "no default ULN" in result.reason


# --------------------------------------------------------------------------- combinators
ALT_AST = {
    "type": "all_of",
    "rules": [
        {**TBIL_RULE, "label": "ALT", "code_set": "alt", "max_multiple": 3, "limit": "alt"},
        {**TBIL_RULE, "label": "AST", "code_set": "ast", "max_multiple": 3, "limit": "ast"},
    ],
}


def test_all_of() -> None:
    alt_ok = obs(ALT, q=30, unit="U/L", high=40)
    assert run(ALT_AST, record(alt_ok, obs(AST, q=35, unit="U/L", high=40))).status == "met"
    assert run(ALT_AST, record(alt_ok)).status == "unknown"
    high = run(ALT_AST, record(obs(AST, q=200, unit="U/L", high=40)))  # ALT missing
    assert high.status == "not_met"
    assert "AST" in high.reason


CG_RULE = {
    "type": "cockcroft_gault",
    "label": "Cockcroft-Gault creatinine clearance",
    "creatinine": "creatinine",
    "weight": "body_weight",
    "op": ">=",
    "value": 50,
}
RENAL = {
    "type": "any_of",
    "rules": [
        {**TBIL_RULE, "label": "Creatinine", "code_set": "creatinine", "limit": "creatinine"},
        {
            "type": "first_decided",
            "rules": [
                {
                    "type": "lab_threshold",
                    "label": "Creatinine clearance",
                    "code_set": "creatinine_clearance",
                    "op": ">=",
                    "value": 50,
                    "unit": "mL/min",
                },
                CG_RULE,
            ],
        },
    ],
}


def test_cockcroft_gault_value_and_sex() -> None:
    # Male, 65 y, 70 kg, 1.0 mg/dL: (140 − 65) × 70 / 72 = 72.92 mL/min.
    rec = record(obs(CREAT, q=1.0, unit="mg/dL"), obs(WEIGHT, q=70, unit="kg"))
    result = run(CG_RULE, rec)
    assert result.status == "met"
    assert "72.92 mL/min" in result.reason
    # Female: × 0.85 = 61.98 mL/min; 88.4 µmol/L is the same 1.0 mg/dL.
    rec = record(obs(CREAT, q=88.4, unit="umol/L"), obs(WEIGHT, q=70, unit="kg"), gender="female")
    assert "61.98 mL/min" in run(CG_RULE, rec).reason
    rec = record(obs(CREAT, q=1.0, unit="mg/dL"), obs(WEIGHT, q=70, unit="kg"), gender="other")
    assert run(CG_RULE, rec).status == "unknown"
    assert run(CG_RULE, record(obs(CREAT, q=1.0, unit="mg/dL"))).status == "unknown"


def test_renal_any_route_passes_not_met_only_when_all_fail() -> None:
    high_creat = obs(CREAT, q=2.5, unit="mg/dL", high=1.2)  # 2.08 × ULN
    # Estimate (140 − 65) × 60 / (72 × 2.5) = 25 mL/min: no route passes.
    assert run(RENAL, record(high_creat, obs(WEIGHT, q=60, unit="kg"))).status == "not_met"
    heavy = obs(WEIGHT, q=120, unit="kg")  # (140 − 65) × 120 / 180 = 50.0
    assert run(RENAL, record(high_creat, heavy)).status == "met"
    assert run(RENAL, record(high_creat)).status == "unknown"  # no weight: cannot compute
    measured = obs(CRCL, q=55, unit="mL/min")
    assert run(RENAL, record(high_creat, measured)).status == "met"


def test_measured_clearance_decides_over_the_estimate() -> None:
    rec = record(
        obs(CREAT, q=2.5, unit="mg/dL", high=1.2),
        obs(WEIGHT, q=120, unit="kg"),  # estimate 50 would pass
        obs(CRCL, q=40, unit="mL/min"),
    )
    assert run(RENAL, rec).status == "not_met"


URINE = {
    "type": "any_of",
    "rules": [
        {
            "type": "ordinal_grade",
            "label": "Urine protein dipstick",
            "code_set": "urine_protein_dipstick",
            "below": 2,
        },
        {
            "type": "lab_threshold",
            "label": "24-h urine protein",
            "code_set": "urine_protein_24h",
            "op": "<",
            "value": 1,
            "unit": "g/(24.h)",
        },
    ],
}


def test_urine_protein_dipstick_forms() -> None:
    assert run(URINE, record(obs(DIP, coded=(LOINC, "LA11833-3")))).status == "met"  # 1+
    assert run(URINE, record(obs(DIP, text="Trace"))).status == "met"
    assert run(URINE, record(obs(DIP, q=30, unit="mg/dL"))).status == "met"  # 1+ band
    two_plus = run(URINE, record(obs(DIP, coded=(LOINC, "LA11834-1"))))
    assert two_plus.status == "unknown"  # ≥ 2+ and no 24-h collection
    assert run(URINE, record(obs(DIP, text="2+"), obs(UP24, q=0.4, unit="g/(24.h)"))).status == (
        "met"
    )
    rec = record(obs(DIP, q=300, unit="mg/dL"), obs(UP24, q=1500, unit="mg/(24.h)"))
    assert run(URINE, rec).status == "not_met"
    assert run(URINE, record(obs(DIP, text="cloudy"))).status == "unknown"


# --------------------------------------------------------------------------- MSI / MMR
MSI_RULE = {
    "type": "msi_mmr",
    "msi": "msi",
    "stable_values": "msi_stable_values",
    "high_values": "msi_high_values",
    "proteins": ["mmr_mlh1", "mmr_msh2", "mmr_msh6", "mmr_pms2"],
    "intact_values": "mmr_intact_values",
    "loss_values": "mmr_loss_values",
}
MSI = (LOINC, "81695-9")
MSS = (LOINC, "LA14122-8")
MSI_H = (LOINC, "LA14123-6")
PROTEINS = [(LOINC, c) for c in ("81691-8", "81692-6", "81693-4", "81694-2")]
INTACT = (LOINC, "LA26197-6")
LOST = (LOINC, "LA26198-4")


def test_msi_mmr_paths() -> None:
    assert run(MSI_RULE, record(obs(MSI, coded=MSS, days=400)), lookback=3650).status == "met"
    assert run(MSI_RULE, record(obs(MSI, coded=MSI_H))).status == "not_met"
    intact = [obs(p, coded=INTACT) for p in PROTEINS]
    assert run(MSI_RULE, record(*intact)).status == "met"
    partial = run(MSI_RULE, record(*intact[:3]))
    assert partial.status == "unknown"
    assert "PMS2 not reported" in partial.reason
    assert run(MSI_RULE, record()).status == "unknown"


def test_any_lost_protein_fails_even_with_mss() -> None:
    rec = record(obs(MSI, coded=MSS), obs(PROTEINS[0], coded=LOST))
    result = run(MSI_RULE, rec)
    assert result.status == "not_met"
    assert "MLH1" in result.reason


def test_mmr_panel_components_count() -> None:
    panel = obs(
        (LOINC, "85337-4"),
        components=tuple(
            ObservationComponent(frozenset({p}), ObservationValue(codes=frozenset({INTACT})))
            for p in PROTEINS
        ),
    )
    result = run(MSI_RULE, record(panel))
    assert result.status == "met"
    assert {e.reference for e in result.evidence} == {panel.ref}


# --------------------------------------------------------------------------- metastases
OLIGO = {
    "type": "oligometastases",
    "secondary_code_sets": ["secondary_malignancy_dx"],
    "body_site_code_set": "metastasis_body_site",
    "lesion_count": "metastatic_lesion_count",
    "site_count": "metastatic_site_count",
    "m_stage": "m_stage",
    "m0_values": "m0_values",
    "max_sites": 2,
    "max_lesions": 5,
    "synchronous_within_days": 180,
    "disease_code_sets": ["rectal_cancer_dx"],
}
LIVER = (ICD10CM, "C78.7")
LUNG = (ICD10CM, "C78.01")
BONE = (ICD10CM, "C79.51")
LESIONS = (LOCAL, "metastatic-lesion-count")
SITES = (LOCAL, "metastatic-site-count")


def oligo(*facts: ObservationFact, mets: tuple[ConditionFact, ...] = ()) -> CriterionResult:
    return run(OLIGO, record(*facts, conditions=(cond(C20, days=40), *mets)), lookback=90)


def test_oligometastases_paths() -> None:
    two = (cond(LIVER, days=30), cond(LUNG, days=30))
    met = oligo(obs(LESIONS, integer=3), mets=two)
    assert met.status == "met"
    assert "2 metastatic sites (liver, lung), 3 lesions" in met.reason
    assert oligo(obs(LESIONS, integer=6), mets=two).status == "not_met"
    three = (*two, cond(BONE, days=30))
    assert oligo(obs(LESIONS, integer=3), mets=three).status == "not_met"
    no_count = oligo(mets=two)
    assert no_count.status == "unknown"
    assert "lesion count not recorded" in no_count.reason
    assert oligo().status == "unknown"


def test_explicit_m0_is_not_met() -> None:
    m_stage = obs((LOINC, "21901-4"), coded=(SNOMED, "30893008"), days=20)
    result = oligo(m_stage)
    assert result.status == "not_met"
    assert "M0" in result.reason


def test_counts_from_observations_alone() -> None:
    assert oligo(obs(SITES, integer=1), obs(LESIONS, integer=2)).status == "met"
    assert oligo(obs(SITES, integer=3), obs(LESIONS, integer=4)).status == "not_met"


def test_site_count_below_the_organs_on_record_is_conflicting() -> None:
    three = (cond(LIVER, days=30), cond(LUNG, days=30), cond(BONE, days=30))
    result = oligo(obs(SITES, integer=2), obs(LESIONS, integer=4), mets=three)
    assert result.status == "unknown"
    assert "conflicting" in result.reason


def test_metachronous_metastasis_is_not_met() -> None:
    # Liver metastasis diagnosed 300 days after the primary: beyond the 180-day window.
    result = run(
        OLIGO,
        record(obs(LESIONS, integer=1), conditions=(cond(C20, days=400), cond(LIVER, days=100))),
        lookback=90,
    )
    assert result.status == "not_met"
    assert "300 days after the primary (metachronous" in result.reason


# --------------------------------------------------------------------------- distance
DISTANCE = {
    "type": "report_number",
    "label": "Distance from the anal verge",
    "code_set": "distance_from_anal_verge",
    "op": "<=",
    "value": 10,
    "unit": "cm",
    "report_code_sets": ["mri_pelvis_report"],
    "anchor": "anal verge",
    "modality": "MRI",
}
DIST = (LOCAL, "distance-from-anal-verge")


def mri(conclusion: str, *, days: int = 20, status: str = "final") -> DiagnosticReportFact:
    return DiagnosticReportFact(
        ref=f"DiagnosticReport/r{next(_counter)}",
        codes=frozenset({(LOINC, "24867-4")}),
        status=status,
        date=day(days),
        conclusion=conclusion,
    )


def dist(*facts: ObservationFact, reports: tuple[DiagnosticReportFact, ...] = ()) -> str:
    return run(DISTANCE, record(*facts, reports=reports), lookback=90).status


def test_distance_from_observation() -> None:
    assert dist(obs(DIST, q=6, unit="cm")) == "met"
    assert dist(obs(DIST, q=100, unit="mm")) == "met"
    assert dist(obs(DIST, q=120, unit="mm")) == "not_met"
    assert dist() == "unknown"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tumour 6 cm from the anal verge.", "met"),
        ("Lower edge 45 mm above the anal verge; mrT3b.", "met"),
        ("Lower edge 12 cm from the anal verge; mrT3c N1.", "not_met"),
        # The tumour size comes first; the distance is the length next to "anal verge".
        ("A 3 cm mass located 14 cm from the anal verge.", "not_met"),
        ("More than 10 cm from the anal verge.", "not_met"),
        ("Tumour within 5 cm of the anal verge.", "met"),
        ("More than 8 cm from the anal verge.", "unknown"),
        ("No tumour within 10 cm of the anal verge.", "unknown"),
        ("Tumour 6 cm from the anal verge; second lesion 12 cm from the anal verge.", "unknown"),
        ("Mid rectal tumour, mrT3.", "unknown"),
    ],
)
def test_distance_read_from_mri_conclusion(text: str, expected: str) -> None:
    assert dist(reports=(mri(text),)) == expected


def test_distance_text_ignores_preliminary_and_old_reports() -> None:
    text = "Tumour 6 cm from the anal verge."
    assert dist(reports=(mri(text, status="preliminary"),)) == "unknown"
    assert dist(reports=(mri(text, days=120),)) == "unknown"


# --------------------------------------------------------------------------- RECIST
MEASURABLE = {
    "type": "measurable_disease",
    "label": "Measurable disease (RECIST 1.1)",
    "assessment": "RECIST",
    "flag_code_set": "recist_measurable",
    "size_code_set": "tumor_size",
    "min_size": 10,
    "unit": "mm",
}
RECIST = (LOCAL, "recist-measurable-disease")
SIZE = (LOINC, "21889-1")


def test_measurable_disease_paths() -> None:
    assert run(MEASURABLE, record(obs(RECIST, boolean=True)), lookback=90).status == "met"
    assert run(MEASURABLE, record(obs(RECIST, boolean=False)), lookback=90).status == "not_met"
    assert run(MEASURABLE, record(obs(SIZE, q=3.2, unit="cm")), lookback=90).status == "met"
    small = run(MEASURABLE, record(obs(SIZE, q=8, unit="mm")), lookback=90)
    assert small.status == "unknown"
    assert run(MEASURABLE, record(), lookback=90).status == "unknown"
    preliminary = run(MEASURABLE, record(obs(RECIST, boolean=True, status="preliminary")))
    assert preliminary.status == "unknown"
    assert "a preliminary result on" in preliminary.reason


# --------------------------------------------------------------------------- medications
ANTICOAG = {
    "type": "no_active_medication",
    "label": "anticoagulant or antiplatelet",
    "medication_code_sets": ["anticoagulants"],
    "why": "must be stopped 7–14 days before surgery",
}
APIXABAN = (RXNORM, "1364430")


def test_active_anticoagulant_is_named_and_unknown() -> None:
    result = run(ANTICOAG, record(medications=(med(APIXABAN, display="apixaban 5 mg"),)))
    assert result.status == "unknown"
    assert result.reason == "Active apixaban 5 mg: must be stopped 7–14 days before surgery"
    statement = med((ATC, "B01AC06"), resource_type="MedicationStatement", display="aspirin")
    assert run(ANTICOAG, record(medications=(statement,))).status == "unknown"


@pytest.mark.parametrize(
    ("status", "intent"), [("stopped", "order"), ("completed", "order"), ("active", "proposal")]
)
def test_inactive_or_proposed_anticoagulant_does_not_count(status: str, intent: str) -> None:
    rec = record(medications=(med(APIXABAN, status=status, intent=intent),))
    result = run(ANTICOAG, rec)
    assert result.status == "met"
    assert result.evidence[0].reference == "MedicationRequest?patient=p&status=active"
    assert result.evidence[0].date == AS_OF.isoformat()


def test_medications_unavailable_is_unknown() -> None:
    rec = record(unavailable={"MedicationRequest": "FHIR server error (503)"})
    result = run(ANTICOAG, rec)
    assert result.status == "unknown"
    assert "503" in result.reason


# --------------------------------------------------------------------------- attestations
CONSENT = {
    "type": "attestation",
    "label": "Life expectancy attested",
    "code_set": "consent_signed",
    "scope": "any",
}
ICF = (LOCAL, "informed-consent-signed")


def test_attestation_paths() -> None:
    def status(*facts: ObservationFact) -> str:
        return run(CONSENT, record(*facts), lookback=365, kind="attestation").status

    assert status(obs(ICF, boolean=True)) == "met"
    assert status(obs(ICF, boolean=False)) == "not_met"
    assert status(obs(ICF, boolean=True, days=400)) == "unknown"
    result = run(CONSENT, record(), kind="attestation")
    assert result.reason == "Life expectancy attested: needs confirmation by the study team"


PREGNANCY = {
    "type": "pregnancy_contraception",
    "pregnancy_test": "pregnancy_test",
    "hcg_quantitative": "hcg_quantitative",
    "pregnancy_status": "pregnancy_status",
    "positive_values": "positive_values",
    "negative_values": "negative_values",
    "pregnant_values": "pregnant_values",
    "not_pregnant_values": "not_pregnant_values",
    "postmenopausal": "postmenopausal_dx",
    "contraception": "contraception_agreement",
    "test_lookback_days": 7,
    "hcg_negative_below": 5,
    "hcg_positive_from": 25,
}
HCG_URINE = (LOINC, "2106-3")
HCG_SERUM = (LOINC, "21198-7")
AGREED = (LOCAL, "contraception-agreement")


def preg(*facts: ObservationFact, gender: str | None = "female", **kw: Any) -> CriterionResult:
    return run(PREGNANCY, record(*facts, gender=gender, **kw), kind="attestation")


def test_positive_pregnancy_test_is_not_met() -> None:
    result = preg(obs(HCG_URINE, coded=(LOINC, "LA6576-8"), days=3), obs(AGREED, boolean=True))
    assert result.status == "not_met"
    assert "Positive pregnancy test" in result.reason


def test_negative_test_needs_the_contraception_attestation_too() -> None:
    negative = obs(HCG_URINE, coded=(LOINC, "LA6577-6"), days=3)
    assert preg(negative).status == "unknown"
    assert preg(negative, obs(AGREED, boolean=True)).status == "met"
    # Eight days old: outside the 7-day test window.
    old = obs(HCG_URINE, coded=(LOINC, "LA6577-6"), days=8)
    assert preg(old, obs(AGREED, boolean=True)).status == "unknown"


def test_postmenopausal_and_male_need_only_the_agreement() -> None:
    menopause = (cond((SNOMED, "76498008"), days=2000),)
    assert preg(obs(AGREED, boolean=True), conditions=menopause).status == "met"
    assert preg(conditions=menopause).status == "unknown"
    assert preg(obs(AGREED, boolean=True), gender="male").status == "met"
    assert preg(gender="male").status == "unknown"
    assert preg(obs(AGREED, boolean=True), gender="unknown").status == "unknown"


@pytest.mark.parametrize(
    ("value", "comparator", "expected"),
    [(2, None, "met"), (5, "<", "met"), (120, None, "not_met"), (12, None, "unknown")],
)
def test_quantitative_hcg(value: float, comparator: str | None, expected: str) -> None:
    hcg = obs(HCG_SERUM, q=value, unit="m[IU]/mL", comparator=comparator, days=2)
    result = preg(hcg, obs(AGREED, boolean=True))
    assert result.status == expected
    if expected == "unknown":
        assert "indeterminate" in result.reason
