"""Property tests (Hypothesis) on units and the engine's safety invariants."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_hooks.eligibility import Engine
from fhir_mappings.record import build_record
from fhir_mappings.terminology import load_terminology
from fhir_mappings.units import convert
from fixtures import generate as g

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ENGINE = Engine.default()
TRIAL = "scrt-capeox-serplulimab-rectal"

CONVERTIBLE = [
    ("10*3/uL", "10*9/L", None),
    ("/uL", "10*9/L", None),
    ("g/L", "g/dL", None),
    ("mmol/L", "g/dL", 16114.5),
    ("umol/L", "mg/dL", 584.66),
    ("umol/L", "mg/dL", 113.12),
    ("mg/(24.h)", "g/(24.h)", None),
    ("mL/s", "mL/min", None),
    ("[lb_av]", "kg", None),
    ("ukat/L", "U/L", None),
]


@given(
    pair=st.sampled_from(CONVERTIBLE),
    value=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False),
)
@SETTINGS
def test_unit_conversion_round_trips(pair: tuple[str, str, float | None], value: float) -> None:
    source, target, molar_mass = pair
    there = convert(value, source, target, molar_mass=molar_mass)
    back = convert(there, target, source, molar_mass=molar_mass)
    assert back == pytest.approx(value, rel=1e-9)


# Random damage to a fully worked-up patient: drop resources, change statuses, dates,
# values and units. Whatever the damage, the engine's invariants must hold.
STATUSES = [
    "final",
    "amended",
    "corrected",
    "preliminary",
    "registered",
    "cancelled",
    "entered-in-error",
    "unknown",
]
UNITS = ["10*9/L", "g/dL", "mg/dL", "U/L", "furlongs/L", "", "K/uL", "umol/L", "s", "{INR}"]


def damaged_record(seed: int) -> Any:
    rng = random.Random(seed)
    persona = g.base(
        f"p{seed}",
        birth=rng.choice(["1968-05-14", "1950", "2010-01-01", "1990-02"]),
        gender=rng.choice(["male", "female", "other", "unknown"]),
    )
    resources = []
    for resource in persona.resources:
        if resource["resourceType"] != "Patient" and rng.random() < 0.25:
            continue  # dropped
        if resource["resourceType"] == "Observation" and rng.random() < 0.5:
            resource["status"] = rng.choice(STATUSES)
            resource["effectiveDateTime"] = g.day(rng.randint(-10, 120))
            quantity = resource.get("valueQuantity")
            if quantity is not None:
                quantity["value"] = round(rng.uniform(0, 500), 2)
                quantity["code"] = quantity["unit"] = rng.choice(UNITS)
                if rng.random() < 0.2:
                    quantity["comparator"] = rng.choice(["<", ">", "<=", ">="])
        if resource["resourceType"] == "Condition" and rng.random() < 0.3:
            resource["verificationStatus"]["coding"][0]["code"] = rng.choice(
                ["refuted", "entered-in-error", "provisional", "confirmed"]
            )
        resources.append(resource)
    return build_record(resources)


@given(seed=st.integers(min_value=0, max_value=10**9))
@SETTINGS
def test_met_always_has_dated_evidence_and_every_criterion_answers(seed: int) -> None:
    trial = ENGINE.trials[TRIAL]
    result = ENGINE.screen(damaged_record(seed), g.AS_OF, [TRIAL]).trials[0]
    windows = {c.id: c.lookback_days for c in trial.criteria}
    for criterion in result.criteria:
        assert criterion.reason, criterion.id
        if criterion.status != "met":
            continue
        dated = [e for e in criterion.evidence if e.date]
        assert dated, criterion.id
    assert {c.id for c in result.criteria} == set(windows)


# (criterion, LOINC code, unit, direction: +1 when higher is better)
LABS = [
    ("anc", g.ANC, "10*9/L", +1),
    ("platelets", g.PLT, "10*9/L", +1),
    ("hemoglobin", g.HB, "g/dL", +1),
    ("albumin", g.ALB, "g/L", +1),
    ("total_bilirubin", g.TBIL, "mg/dL", -1),
    ("inr", g.INR, "{INR}", -1),
    ("aptt", g.APTT, "s", -1),
]


def _plausible(criterion: str, value: float, unit: str) -> bool:
    limits = load_terminology().code_set(criterion).plausible
    return limits is None or limits.low <= convert(value, unit, limits.unit) <= limits.high


def lab_status(criterion: str, code: tuple[str, str, str], unit: str, value: float) -> str:
    persona = g.base("mono")
    persona.drop(g.has_code(code[1]))
    persona.lab(code, value, unit, days_before=3)
    result = ENGINE.screen(build_record(persona.resources), g.AS_OF, [TRIAL]).trials[0]
    return result.criterion(criterion).status


@given(
    lab=st.sampled_from(LABS),
    value=st.floats(min_value=0.01, max_value=400, allow_nan=False),
    improvement=st.floats(min_value=0, max_value=400, allow_nan=False),
)
@SETTINGS
def test_improving_a_lab_never_turns_met_into_not_met(
    lab: tuple[str, tuple[str, str, str], str, int], value: float, improvement: float
) -> None:
    criterion, code, unit, direction = lab
    better = value + direction * improvement
    if better <= 0 or not (
        _plausible(criterion, better, unit) and _plausible(criterion, value, unit)
    ):
        return  # an impossible value is unknown whichever way it "improves"
    before = lab_status(criterion, code, unit, round(value, 4))
    after = lab_status(criterion, code, unit, round(better, 4))
    rank = {"not_met": 0, "unknown": 1, "met": 2}
    assert rank[after] >= rank[before], (criterion, value, better, before, after)
