"""Medication history against the screening date: a record dated on it counts, one dated
after it (a clock or time-zone slip) is unknown and said, never "before the window"."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import MedicationFact
from tests.unit.test_engine_rules import AS_OF, med
from tests.unit.test_rules_generic import NIVOLUMAB, PRIOR_ICI, rec, run

ACTIVE_ICI = {**PRIOR_ICI, "label": "Active ICI", "active_only": True}


def nivolumab(days_after: int, status: str = "completed") -> MedicationFact:
    return dataclasses.replace(
        med(NIVOLUMAB, status=status, display="nivolumab"),
        date=AS_OF + timedelta(days=days_after),
    )


@pytest.mark.parametrize("rule", [PRIOR_ICI, ACTIVE_ICI])
def test_a_medication_dated_after_the_screening_date_is_unknown(rule: dict[str, object]) -> None:
    later = nivolumab(1, "active")
    result = run(rule, rec(medications=(later,)), lookback=90)
    when = later.date.isoformat() if later.date else ""
    assert (result.status, result.reason) == (
        "unknown",
        f"{rule['label']}: nivolumab dated {when}, after the screening date",
    )
    assert result.evidence == (Evidence(later.ref, "nivolumab", None, when, "active"),)


def test_a_later_record_is_not_cleared_by_an_older_one() -> None:
    older = nivolumab(-400)
    result = run(PRIOR_ICI, rec(medications=(nivolumab(5), older)), lookback=90)
    assert result.status == "unknown"
    assert "after the screening date" in result.reason


def test_a_record_inside_the_window_decides_over_a_later_one() -> None:
    inside = nivolumab(-10)
    result = run(PRIOR_ICI, rec(medications=(nivolumab(5), inside)), lookback=90)
    assert result.status == "met"
    assert result.evidence == (
        Evidence(
            inside.ref,
            "nivolumab",
            None,
            inside.date.isoformat() if inside.date else "",
            "completed",
        ),
    )


@pytest.mark.parametrize(
    ("days_after", "status"), [(0, "met"), (-90, "met"), (-91, "not_met"), (1, "unknown")]
)
def test_window_edges(days_after: int, status: str) -> None:
    result = run(PRIOR_ICI, rec(medications=(nivolumab(days_after),)), lookback=90)
    assert result.status == status


@pytest.mark.parametrize(("days_after", "status"), [(0, "met"), (-400, "met"), (1, "unknown")])
def test_active_now_edges(days_after: int, status: str) -> None:
    result = run(ACTIVE_ICI, rec(medications=(nivolumab(days_after, "active"),)), lookback=90)
    assert result.status == status
