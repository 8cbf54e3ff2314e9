"""age_range whole: evidence, reasons, partial birth dates shown as given, and the last day a
partial birth date allows, tried on screening dates on either side of it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_hooks.eligibility import CriterionResult, Engine
from cds_hooks.eligibility.results import Evidence
from cds_hooks.trials.loader import parse_trial
from fhir_mappings.facts import PatientFact, PatientRecord
from fhir_mappings.terminology import load_terminology

TERMINOLOGY = load_terminology()
AGE = {"type": "age_range", "label": "Age", "min": 18, "max": 75}


def screen(
    birth: date | None,
    precision: str | None = "day",
    *,
    on: date = date(2026, 3, 2),
    rule: dict[str, Any] = AGE,
    problem: str | None = None,
) -> CriterionResult:
    raw = {
        "id": "age",
        "title": "Age",
        "short_title": "Age",
        "summary": "test",
        "registry": {"id": "NCT0", "url": "https://example.org", "status": "recruiting"},
        "target_condition": {"code_sets": ["rectal_cancer_dx"]},
        "treatment_orders": {"code_sets": []},
        "lookback_days": 28,
        "criteria": [{"id": "c", "title": "C", "role": "inclusion", "kind": "data", "rule": rule}],
    }
    engine = Engine([parse_trial(raw, "test")], TERMINOLOGY)
    patient = PatientFact(
        "Patient/p", birth, precision if birth else None, "female", problem=problem
    )
    return engine.screen(PatientRecord(patient=patient), on).trials[0].criteria[0]


def test_a_full_birth_date() -> None:
    result = screen(date(1960, 5, 1))
    assert (result.status, result.reason) == ("met", "Age 65, within 18–75")
    assert result.evidence == (
        Evidence(
            "Patient/p", 65, "a", "1960-05-01", "age in completed years on the screening date"
        ),
    )
    open_ended = screen(date(1960, 5, 1), rule={**AGE, "max": None})
    assert open_ended.reason == "Age 65, ≥ 18"
    young = screen(date(2010, 5, 1), rule={**AGE, "max": None})
    assert young.reason == "Age 15 is outside ≥ 18"


def test_no_birth_date() -> None:
    assert screen(None).reason == "Age: no birth date on record"
    assert screen(None, problem="birthDate '19xx' cannot be read").reason == (
        "Age: birthDate '19xx' cannot be read"
    )
    assert screen(None).evidence == ()


@pytest.mark.parametrize(
    ("birth", "precision", "status", "value", "shown", "reason"),
    [
        (
            date(2008, 3, 1),
            "month",
            "unknown",
            "17–18",
            "2008-03",
            "Age 17–18 (birth date 2008-03): partial birth date straddles the 18–75 limit",
        ),
        (
            date(1970, 1, 1),
            "year",
            "met",
            "55–56",
            "1970",
            "Age 55–56 (birth date 1970), within 18–75",
        ),
        (
            date(1949, 1, 1),
            "year",
            "not_met",
            "76–77",
            "1949",
            "Age 76–77 (birth date 1949) is outside 18–75",
        ),
    ],
)
def test_partial_birth_dates_are_shown_as_given(
    birth: date, precision: str, status: str, value: str, shown: str, reason: str
) -> None:
    result = screen(birth, precision)
    assert (result.status, result.reason) == (status, reason)
    assert result.evidence == (
        Evidence("Patient/p", value, "a", shown, "age in completed years on the screening date"),
    )


@pytest.mark.parametrize(
    ("birth", "precision", "on", "status"),
    [
        # Born some day in February 2008 (a leap year): the last possible birthday is the
        # 29th, reached on 1 March in 2026. Every day of February makes them 18 on 1 March.
        (date(2008, 2, 1), "month", date(2026, 3, 1), "met"),
        (date(2008, 2, 1), "month", date(2026, 2, 28), "unknown"),
        # February of a common year ends on the 28th.
        (date(2007, 2, 1), "month", date(2025, 2, 28), "met"),
        (date(2007, 2, 1), "month", date(2025, 2, 27), "unknown"),
        # Born in April 2008: 18 only from 30 April 2026 at the latest.
        (date(2008, 4, 1), "month", date(2026, 4, 30), "met"),
        (date(2008, 4, 1), "month", date(2026, 4, 29), "unknown"),
        (date(2008, 4, 1), "month", date(2026, 3, 31), "not_met"),
        # Born some day in 2008: 18 for sure from 31 December 2026.
        (date(2008, 1, 1), "year", date(2026, 12, 31), "met"),
        (date(2008, 1, 1), "year", date(2026, 12, 30), "unknown"),
        (date(2008, 1, 1), "year", date(2025, 12, 31), "not_met"),
        # December: the month's last day is the 31st.
        (date(2008, 12, 1), "month", date(2026, 12, 31), "met"),
        (date(2008, 12, 1), "month", date(2026, 12, 30), "unknown"),
    ],
)
def test_the_last_day_a_partial_birth_date_allows(
    birth: date, precision: str, on: date, status: str
) -> None:
    assert screen(birth, precision, on=on).status == status
