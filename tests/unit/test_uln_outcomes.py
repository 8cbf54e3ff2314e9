"""× ULN answers that cannot be computed, checked whole: no number to compare, a reference
range whose unit cannot be known, a range the reader could not read."""

from __future__ import annotations

import dataclasses

import pytest

from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import LOINC, Quantity, ReferenceRange
from tests.unit.test_engine_rules import ALT, CREAT, TBIL, TBIL_RULE, day, obs, record, run

WHEN = day(1).isoformat()
INR = (LOINC, "6301-6")
INR_RULE = {**TBIL_RULE, "label": "INR", "code_set": "inr", "limit": "inr"}


def test_a_result_without_a_number_is_unknown() -> None:
    for fact, shown in (
        (obs(TBIL, coded=(LOINC, "LA1"), text="high"), "LA1"),
        (obs(TBIL, text="see report"), "see report"),
    ):
        result = run(TBIL_RULE, record(fact))
        assert (result.status, result.reason) == (
            "unknown",
            f"Total bilirubin: no numeric value ({fact.ref}, {WHEN})",
        )
        assert result.evidence == (Evidence(fact.ref, shown, None, WHEN, None),)


def test_a_unitless_range_of_a_dimensionless_result_is_the_labs_own() -> None:
    # An INR has no unit: its range needs none either, and the lab's range decides (as it
    # does when both say "{INR}"), not the default table.
    for high, status, shown in ((1.2, "met", "0.917"), (0.7, "not_met", "1.57")):
        fact = obs(INR, q=1.1, high=high)
        result = run(INR_RULE, record(fact))
        source = f"ULN {high:g} from the Observation's referenceRange"
        relation = "≤" if status == "met" else "is >"
        assert (result.status, result.reason) == (
            status,
            f"INR 1.1 on {WHEN} ({shown}× ULN) {relation} 1.5× ULN; {source}",
        )
        assert result.evidence == (Evidence(fact.ref, 1.1, None, WHEN, source),)


def test_a_unitless_result_and_range_of_a_measured_quantity_are_not_guessed() -> None:
    fact = obs(TBIL, q=1.1, high=1.2)
    result = run(TBIL_RULE, record(fact))
    assert (result.status, result.reason) == (
        "unknown",
        f"Total bilirubin: value 1.1 has no unit ({fact.ref}, {WHEN})",
    )
    assert result.evidence == (Evidence(fact.ref, 1.1, None, WHEN, None),)


def test_a_range_read_with_a_problem_is_not_used_even_with_a_high_limit() -> None:
    damaged = ReferenceRange(high=Quantity(40, "U/L"), problem="low limit unreadable")
    fact = dataclasses.replace(obs(ALT, q=100, unit="U/L"), reference_ranges=(damaged,))
    rule = {**TBIL_RULE, "label": "ALT", "code_set": "alt", "max_multiple": 3, "limit": "alt"}
    result = run(rule, record(fact))
    assert (result.status, result.reason) == (
        "unknown",
        f"ALT: ULN unknown: low limit unreadable ({fact.ref}, {WHEN})",
    )


@pytest.mark.parametrize(("gender", "shown"), [(None, "unknown"), ("other", "other")])
def test_no_range_and_no_default_for_the_sex(gender: str | None, shown: str) -> None:
    # The default creatinine ULN is sex-specific, with no sex-neutral value.
    fact = obs(CREAT, q=1.0, unit="mg/dL")
    rule = {**TBIL_RULE, "label": "Creatinine", "code_set": "creatinine", "limit": "creatinine"}
    result = run(rule, record(fact, gender=gender))
    assert (result.status, result.reason) == (
        "unknown",
        "Creatinine: no reference range on the result and no default ULN "
        f"for sex {shown} ({fact.ref}, {WHEN})",
    )
    assert result.evidence == (Evidence(fact.ref, 1.0, "mg/dL", WHEN, None),)


@pytest.mark.parametrize("high", [0.0, -5.0])
def test_an_upper_limit_not_above_zero_is_no_uln(high: float) -> None:
    fact = obs(ALT, q=30, unit="U/L", high=high)
    rule = {**TBIL_RULE, "label": "ALT", "code_set": "alt", "max_multiple": 3, "limit": "alt"}
    result = run(rule, record(fact))
    assert (result.status, result.reason) == (
        "unknown",
        f"ALT: ULN unknown: upper limit {high:g} U/L is not above zero ({fact.ref}, {WHEN})",
    )
    assert result.evidence == (Evidence(fact.ref, 30, "U/L", WHEN, None),)


def test_a_uln_below_one_still_gives_the_ratio() -> None:
    # Bilirubin 1.6 mg/dL against a lab ULN of 0.8 mg/dL: 2× ULN.
    fact = obs(TBIL, q=1.6, unit="mg/dL", high=0.8)
    result = run(TBIL_RULE, record(fact))
    assert (result.status, result.reason) == (
        "not_met",
        f"Total bilirubin 1.6 mg/dL on {WHEN} (2× ULN) is > 1.5× ULN; ULN 0.8 mg/dL from the "
        "Observation's referenceRange",
    )


def test_no_result_and_disagreeing_results_are_labelled() -> None:
    none = run(TBIL_RULE, record())
    assert (none.status, none.reason) == (
        "unknown",
        "Total bilirubin: no result in the last 28 days",
    )
    low, high = obs(TBIL, q=0.8, unit="mg/dL", high=1.0), obs(TBIL, q=2.0, unit="mg/dL", high=1.0)
    same_day = run(TBIL_RULE, record(low, high))
    assert same_day.status == "unknown"
    assert same_day.reason.startswith(f"Total bilirubin: 2 results on {WHEN} disagree (")


@pytest.mark.parametrize(
    ("low", "low_unit", "status"),
    [
        (50.0, "U/L", "unknown"),  # limits swapped or mistyped: which is the ULN?
        (0.9, "ukat/L", "unknown"),  # 54 U/L, above the upper limit once converted
        (7.0, "U/L", "met"),
        (40.0, "U/L", "met"),  # a range of one value is odd, but not contradictory
        (7.0, "mg/dL", "met"),  # a lower limit in another dimension is not compared
    ],
)
def test_a_lower_limit_above_the_upper_one_leaves_the_uln_unknown(
    low: float, low_unit: str, status: str
) -> None:
    fact = dataclasses.replace(
        obs(ALT, q=30, unit="U/L"),
        reference_ranges=(ReferenceRange(low=Quantity(low, low_unit), high=Quantity(40, "U/L")),),
    )
    rule = {**TBIL_RULE, "label": "ALT", "code_set": "alt", "max_multiple": 3, "limit": "alt"}
    result = run(rule, record(fact))
    assert result.status == status
    if status == "unknown":
        assert result.reason == (
            f"ALT: ULN unknown: the reference range's lower limit {low:g} {low_unit} is above "
            f"its upper limit ({fact.ref}, {WHEN})"
        )
    else:
        assert "ULN 40 U/L from the Observation's referenceRange" in result.reason
