"""Thresholds checked whole where the unit decides the text: a dimensionless threshold is
shown without a unit, and a unit that cannot be read is named with the result's date."""

from __future__ import annotations

from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import LOINC
from tests.unit.test_engine_rules import ANC, ANC_RULE, TBIL, TBIL_RULE, day, obs, record, run

WHEN = day(1).isoformat()
INR = (LOINC, "6301-6")
INR_MAX = {
    "type": "lab_threshold",
    "label": "INR",
    "code_set": "inr",
    "op": "<=",
    "value": 1.5,
    "unit": "{INR}",
}


def test_a_dimensionless_threshold_has_no_unit_in_the_reason() -> None:
    met = run(INR_MAX, record(obs(INR, q=1.1)))
    assert (met.status, met.reason) == ("met", f"INR 1.1 on {WHEN} ≤ 1.5")
    not_met = run(INR_MAX, record(obs(INR, q=1.7)))
    assert (not_met.status, not_met.reason) == ("not_met", f"INR 1.7 on {WHEN} is > 1.5")


def test_an_unknown_unit_is_named_with_the_date() -> None:
    for rule, code, label in ((ANC_RULE, ANC, "ANC"), (TBIL_RULE, TBIL, "Total bilirubin")):
        fact = obs(code, q=2.0, unit="furlong")
        result = run(rule, record(fact))
        assert (result.status, result.reason) == (
            "unknown",
            f"{label}: unit 'furlong' not recognised ({fact.ref}, {WHEN})",
        )
        assert result.evidence == (Evidence(fact.ref, 2.0, "furlong", WHEN, None),)


def test_a_component_threshold_without_a_result_says_so() -> None:
    systolic = {
        "type": "lab_threshold",
        "label": "Systolic",
        "code_set": "blood_pressure",
        "component": "systolic_blood_pressure",
        "op": ">",
        "value": 160,
        "unit": "mm[Hg]",
    }
    result = run(systolic, record())
    assert (result.status, result.reason, result.evidence) == (
        "unknown",
        "Systolic: no result in the last 28 days",
        (),
    )
