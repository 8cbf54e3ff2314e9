"""Boundaries of graded and derived criteria: urine protein bands at their exclusive upper
limits (with comparators), dipstick text and codes, Cockcroft-Gault and derived counts exactly
at their thresholds and the inputs that make them unknown."""

from __future__ import annotations

from datetime import date

import pytest

from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import LOINC
from tests.unit.test_engine_rules import (
    CG_RULE,
    CREAT,
    DIP,
    WEIGHT,
    day,
    obs,
    record,
    run,
)
from tests.unit.test_rules_generic import DERIVED_ANC, NEUT, WBC

DIPSTICK = {
    "type": "ordinal_grade",
    "label": "Urine protein dipstick",
    "code_set": "urine_protein_dipstick",
    "below": 2,
}
M, N, U = "met", "not_met", "unknown"


@pytest.mark.parametrize(
    ("value", "comparator", "grade", "expected"),
    [
        (0, None, 0, M),
        (29.9, None, 0.5, M),
        (30, None, 1, M),  # bands are [lower, upper): 30 mg/dL is 1+
        (99.9, None, 1, M),
        (100, None, 2, N),  # 100 mg/dL is 2+, not below 2
        (299, None, 2, N),
        (300, None, 3, N),
        (1000, None, 4, N),
        (100, "<", 1, M),  # "<100" is at most the 1+ band
        (30, "<=", 1, M),
        # "<=100" may be exactly 100 (2+), "<300" anything up to 2+: not surely below 2.
        (100, "<=", 2, U),
        (300, "<", 2, U),
    ],
)
def test_dipstick_quantities_at_the_band_limits(
    value: float, comparator: str | None, grade: float | None, expected: str
) -> None:
    fact = obs(DIP, q=value, unit="mg/dL", comparator=comparator)
    result = run(DIPSTICK, record(fact))
    assert result.status == expected
    at_most = " at most" if expected == U else ""
    assert result.evidence[0].note == f"grade {grade:g}{at_most}"
    assert result.evidence[0].value == f"{comparator or ''}{value:g} mg/dL"


@pytest.mark.parametrize(
    ("value", "comparator", "grade", "expected"),
    [
        # Bands are closed below: ">100" and ">=100" are at least 2+, surely not below 2;
        # ">99.9" may still be 1+, ">30" anything from 1+ up, ">0" anything but negative.
        (100, ">", 2, N),
        (100, ">=", 2, N),
        (300, ">", 3, N),
        (99.9, ">", 1, U),
        (99.9, ">=", 1, U),
        (30, ">", 1, U),
        (0, ">", 0.5, U),
        (0, ">=", 0.5, U),  # ">=0" may be more than nothing: not "negative"
    ],
)
def test_open_ended_dipstick_quantities_are_at_least_their_band(
    value: float, comparator: str, grade: float, expected: str
) -> None:
    fact = obs(DIP, q=value, unit="mg/dL", comparator=comparator)
    result = run(DIPSTICK, record(fact))
    shown = f"{comparator}{value:g} mg/dL"
    relation = "(≥ 2)" if expected == N else "may be below or above 2"
    assert (result.status, result.reason) == (
        expected,
        f"Urine protein dipstick {shown} on {day(1).isoformat()} {relation}",
    )
    assert result.evidence == (
        Evidence(
            fact.ref,
            f"{comparator}{value:g} mg/dL",
            None,
            day(1).isoformat(),
            f"grade {grade:g} at least",
        ),
    )


def test_dipstick_quantities_in_another_unit_are_converted() -> None:
    # 1 g/L = 100 mg/dL: 2+.
    assert run(DIPSTICK, record(obs(DIP, q=1, unit="g/L"))).status == N
    assert run(DIPSTICK, record(obs(DIP, q=0.99, unit="g/L"))).status == M
    unknown_unit = run(DIPSTICK, record(obs(DIP, q=1, unit="furlongs")))
    assert unknown_unit.status == U
    assert "not recognised" in unknown_unit.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("negative", M),
        (" Trace ", M),
        ("1+", M),
        ("+", M),
        ("2+", N),
        ("++", N),
        ("4+", N),
        ("NEG", M),
        ("cloudy", U),
    ],
)
def test_dipstick_text(text: str, expected: str) -> None:
    result = run(DIPSTICK, record(obs(DIP, text=text)))
    assert result.status == expected
    if expected != U:
        assert result.evidence[0].value == text.strip()


@pytest.mark.parametrize(
    ("code", "expected"),
    [("LA6577-6", M), ("LA11832-5", M), ("LA11833-3", M), ("LA11834-1", N), ("LA11836-6", N)],
)
def test_dipstick_codes(code: str, expected: str) -> None:
    assert run(DIPSTICK, record(obs(DIP, coded=(LOINC, code)))).status == expected


def test_dipstick_reasons() -> None:
    met = run(DIPSTICK, record(obs(DIP, text="1+")))
    assert met.reason == f"Urine protein dipstick 1+ on {day(1).isoformat()} (< 2)"
    high = run(DIPSTICK, record(obs(DIP, text="3+")))
    assert high.reason == f"Urine protein dipstick 3+ on {day(1).isoformat()} (≥ 2)"
    odd = run(DIPSTICK, record(obs(DIP, text="cloudy")))
    assert odd.reason.startswith("Urine protein dipstick: result not readable as a grade")


# Male, born 1960-05-01: 65 on 2026-03-02. (140 − 65) × kg / (72 × 1.0) = 75 × kg / 72.
@pytest.mark.parametrize(
    ("kg", "op", "expected"),
    [
        (48.0, ">=", M),  # 75 × 48 / 72 = 50.0 exactly
        (47.9, ">=", N),
        (48.0, ">", N),
        (48.1, ">", M),
        (48.0, "<=", M),
        (48.0, "<", N),
    ],
)
def test_cockcroft_gault_at_the_threshold(kg: float, op: str, expected: str) -> None:
    rec = record(obs(CREAT, q=1.0, unit="mg/dL"), obs(WEIGHT, q=kg, unit="kg"))
    result = run({**CG_RULE, "op": op}, rec)
    assert result.status == expected
    assert result.evidence[2].value == 65


def test_cockcroft_gault_reason_and_converted_inputs() -> None:
    rec = record(obs(CREAT, q=88.4, unit="umol/L"), obs(WEIGHT, q=48, unit="kg"))
    result = run(CG_RULE, rec)
    assert result.status == M
    assert result.reason == (
        "Cockcroft-Gault creatinine clearance 50 mL/min ≥ 50 mL/min "
        "(age 65, 48 kg, creatinine 1 mg/dL)"
    )
    assert result.evidence[0].note == "= 1 mg/dL"
    assert result.evidence[1].note is None
    assert result.evidence[2].note == "computed clearance 50 mL/min (male, age 65)"


@pytest.mark.parametrize(
    ("creatinine", "weight", "why"),
    [
        ({"comparator": "<"}, {}, "creatinine or weight reported with a comparator"),
        ({}, {"comparator": ">"}, "creatinine or weight reported with a comparator"),
        ({"q": 0.0}, {}, "creatinine must be a positive number, not 0.0"),
    ],
)
def test_cockcroft_gault_unknown_inputs(
    creatinine: dict[str, object], weight: dict[str, object], why: str
) -> None:
    creat = obs(CREAT, **{"q": 1.0, "unit": "mg/dL", **creatinine})  # type: ignore[arg-type]
    kg = obs(WEIGHT, **{"q": 70.0, "unit": "kg", **weight})  # type: ignore[arg-type]
    result = run(CG_RULE, record(creat, kg))
    assert result.status == U
    assert result.reason == f"Cockcroft-Gault creatinine clearance: {why}"


def test_cockcroft_gault_needs_a_full_birth_date() -> None:
    rec = record(
        obs(CREAT, q=1.0, unit="mg/dL"),
        obs(WEIGHT, q=70, unit="kg"),
        birth=date(1960, 1, 1),
        precision="year",
    )
    result = run(CG_RULE, rec)
    assert result.reason == "Cockcroft-Gault creatinine clearance: needs a full birth date"
    missing = run(CG_RULE, record(obs(WEIGHT, q=70, unit="kg")))
    assert missing.reason.startswith("Cockcroft-Gault creatinine clearance: creatinine: ")
    no_weight = run(CG_RULE, record(obs(CREAT, q=1.0, unit="mg/dL")))
    assert no_weight.reason.startswith("Cockcroft-Gault creatinine clearance: body weight: ")


@pytest.mark.parametrize(
    ("wbc", "percent", "op", "expected"),
    [
        (3.0, 50, ">=", M),  # 3.0 × 50 % = 1.5 exactly
        (3.0, 49.9, ">=", N),
        (3.0, 50, ">", N),
        (3.0, 50.1, ">", M),
    ],
)
def test_derived_count_at_the_threshold(wbc: float, percent: float, op: str, expected: str) -> None:
    rec = record(obs(WBC, q=wbc, unit="10*9/L"), obs(NEUT, q=percent, unit="%"))
    result = run({**DERIVED_ANC, "op": op}, rec)
    assert result.status == expected


def test_derived_count_reason_and_evidence() -> None:
    wbc, neut = obs(WBC, q=3.0, unit="10*9/L"), obs(NEUT, q=50, unit="%")
    result = run(DERIVED_ANC, record(wbc, neut))
    assert result.reason == (
        f"ANC 1.5 10*9/L (derived: 3 × 50% on {day(1).isoformat()}) ≥ 1.5 10*9/L"
    )
    assert [e.reference for e in result.evidence] == [wbc.ref, neut.ref]
    assert result.evidence[1].note == "derived 1.5 10*9/L"
    low = run(DERIVED_ANC, record(obs(WBC, q=2.0, unit="10*9/L"), obs(NEUT, q=50, unit="%")))
    assert low.reason.endswith("is < 1.5 10*9/L") or low.reason.endswith("< 1.5 10*9/L")
    no_percent = run(DERIVED_ANC, record(wbc))
    assert no_percent.reason.startswith("ANC: neutrophils percent: ")
    no_factor = run(DERIVED_ANC, record(neut))
    assert no_factor.reason.startswith("ANC: wbc: ")


def test_cockcroft_gault_whole_outcomes() -> None:
    creat, kg = obs(CREAT, q=1.0, unit="mg/dL"), obs(WEIGHT, q=48, unit="kg")
    result = run(CG_RULE, record(creat, kg))
    assert result.evidence == (
        Evidence(creat.ref, 1.0, "mg/dL", day(1).isoformat(), None),
        Evidence(kg.ref, 48, "kg", day(1).isoformat(), None),
        Evidence("Patient/p", 65, "a", "1960-05-01", "computed clearance 50 mL/min (male, age 65)"),
    )
    low = run(CG_RULE, record(creat, obs(WEIGHT, q=40, unit="kg")))
    assert (low.status, low.reason) == (
        "not_met",
        "Cockcroft-Gault creatinine clearance 41.67 mL/min < 50 mL/min "
        "(age 65, 40 kg, creatinine 1 mg/dL)",
    )
    # 100 lb is 45.36 kg: (140 − 65) × 45.36 / 72 = 47.25 mL/min.
    pounds = obs(WEIGHT, q=100, unit="[lb_av]")
    converted = run(CG_RULE, record(creat, pounds))
    assert converted.status == "not_met"
    assert converted.evidence[1] == Evidence(
        pounds.ref, 100, "[lb_av]", day(1).isoformat(), "= 45.36 kg"
    )
    for gender in ("other", "unknown", None):
        no_sex = run(CG_RULE, record(creat, kg, gender=gender))
        assert (no_sex.status, no_sex.reason) == (
            "unknown",
            "Cockcroft-Gault creatinine clearance: needs sex male or female on record",
        )
    partial = run(CG_RULE, record(creat, kg, birth=date(1960, 1, 1), precision="month"))
    assert (partial.status, partial.reason) == (
        "unknown",
        "Cockcroft-Gault creatinine clearance: needs a full birth date",
    )


def test_a_derived_count_names_a_missing_input_in_words() -> None:
    rule = {**DERIVED_ANC, "factor": "body_weight", "percent": "neutrophils_percent"}
    result = run(rule, record(obs(NEUT, q=60, unit="%")))
    assert result.reason.startswith("ANC: body weight: no result in the last 28 days")
