"""Cockcroft-Gault and derived products checked whole: the status, the reason with the
inputs a clinician reads, and each piece of evidence with its conversion note."""

from __future__ import annotations

from cds_hooks.eligibility.results import Evidence
from tests.unit.test_engine_rules import CG_RULE, CREAT, WEIGHT, obs, record, run
from tests.unit.test_rules_generic import DERIVED_ANC, NEUT, rec

LABEL = "Cockcroft-Gault creatinine clearance"
BIRTH = "1960-05-01"


def test_clearance_met_with_inputs_as_reported() -> None:
    # Male, 65 y, 70 kg, 1.0 mg/dL: (140 − 65) × 70 / 72 = 72.92 mL/min.
    creat, weight = obs(CREAT, q=1.0, unit="mg/dL"), obs(WEIGHT, q=70, unit="kg")
    result = run(CG_RULE, record(creat, weight))
    assert (result.status, result.reason) == (
        "met",
        f"{LABEL} 72.92 mL/min ≥ 50 mL/min (age 65, 70 kg, creatinine 1 mg/dL)",
    )
    when = creat.date.isoformat() if creat.date else None
    assert result.evidence == (
        Evidence(creat.ref, 1.0, "mg/dL", when, None),
        Evidence(weight.ref, 70, "kg", when, None),
        Evidence("Patient/p", 65, "a", BIRTH, "computed clearance 72.92 mL/min (male, age 65)"),
    )


def test_converted_inputs_carry_the_value_used() -> None:
    # 88.4 µmol/L is 1.0 mg/dL; 154.3236 lb is 70 kg; female × 0.85 = 61.98 mL/min.
    creat = obs(CREAT, q=88.4, unit="umol/L")
    weight = obs(WEIGHT, q=154.3236, unit="[lb_av]")
    result = run(CG_RULE, record(creat, weight, gender="female"))
    assert (result.status, result.reason) == (
        "met",
        f"{LABEL} 61.98 mL/min ≥ 50 mL/min (age 65, 70 kg, creatinine 1 mg/dL)",
    )
    when = creat.date.isoformat() if creat.date else None
    assert result.evidence == (
        Evidence(creat.ref, 88.4, "umol/L", when, "= 1 mg/dL"),
        Evidence(weight.ref, 154.3236, "[lb_av]", when, "= 70 kg"),
        Evidence("Patient/p", 65, "a", BIRTH, "computed clearance 61.98 mL/min (female, age 65)"),
    )


def test_clearance_not_met_says_below() -> None:
    # (140 − 65) × 60 / (72 × 2.5) = 25 mL/min.
    result = run(CG_RULE, record(obs(CREAT, q=2.5, unit="mg/dL"), obs(WEIGHT, q=60, unit="kg")))
    assert (result.status, result.reason) == (
        "not_met",
        f"{LABEL} 25 mL/min < 50 mL/min (age 65, 60 kg, creatinine 2.5 mg/dL)",
    )


def test_clearance_needs_sex_and_a_full_birth_date() -> None:
    inputs = (obs(CREAT, q=1.0, unit="mg/dL"), obs(WEIGHT, q=70, unit="kg"))
    for gender in ("other", "unknown", None):
        result = run(CG_RULE, record(*inputs, gender=gender))
        assert (result.status, result.reason, result.evidence) == (
            "unknown",
            f"{LABEL}: needs sex male or female on record",
            (),
        )
    for partial in (record(*inputs, precision="year"), record(*inputs, birth=None)):
        result = run(CG_RULE, partial)
        assert (result.status, result.reason, result.evidence) == (
            "unknown",
            f"{LABEL}: needs a full birth date",
            (),
        )


def test_a_missing_factor_is_named_in_words() -> None:
    rule = {**DERIVED_ANC, "factor": "body_weight", "unit": "kg"}
    result = run(rule, rec(obs(NEUT, q=60, unit="%")), lookback=28)
    assert (result.status, result.reason) == (
        "unknown",
        "ANC: body weight: no result in the last 28 days",
    )
