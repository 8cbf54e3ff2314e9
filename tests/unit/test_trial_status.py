"""Trial status from inclusion and exclusion results, and when a screening goes stale."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_hooks.eligibility.deadlines import needed_by, screen_by
from cds_hooks.eligibility.engine import trial_status
from cds_hooks.eligibility.results import CriterionResult, Evidence, Status, TrialResult
from cds_hooks.trials.loader import parse_trial
from cds_hooks.trials.model import TrialDefinition


def _trial(*criteria: tuple[str, str, str, int]) -> TrialDefinition:
    raw: dict[str, Any] = {
        "id": "t",
        "title": "T",
        "short_title": "T",
        "summary": "s",
        "registry": {"id": "NCT0", "url": "https://example.org", "status": "recruiting"},
        "target_condition": {"code_sets": ["rectal_cancer_dx"]},
        "treatment_orders": {"code_sets": []},
        "lookback_days": 28,
        "criteria": [
            {
                "id": cid,
                "title": cid,
                "role": role,
                "kind": kind,
                "lookback_days": lookback,
                "rule": {"type": "age_range", "label": "Age", "min": 18, "max": 75},
            }
            for cid, role, kind, lookback in criteria
        ],
    }
    return parse_trial(raw, "test")


TRIAL = _trial(
    ("inc", "inclusion", "data", 28),
    ("exc", "exclusion", "data", 90),
    ("consent", "inclusion", "attestation", 365),
)


def _results(inc: Status, exc: Status, consent: Status = "unknown") -> list[CriterionResult]:
    return [
        CriterionResult("inc", inc, "r", role="inclusion"),
        CriterionResult("exc", exc, "r", role="exclusion"),
        CriterionResult("consent", consent, "r", role="inclusion"),
    ]


@pytest.mark.parametrize(
    ("inc", "exc", "expected"),
    [
        ("met", "not_met", "likely_eligible"),
        ("met", "met", "not_eligible"),  # the excluding condition holds
        ("met", "unknown", "possibly_eligible"),  # an unknown exclusion caps at possibly
        ("not_met", "not_met", "not_eligible"),
        ("not_met", "unknown", "not_eligible"),
        ("unknown", "not_met", "possibly_eligible"),
        ("unknown", "met", "not_eligible"),
    ],
)
def test_exclusion_polarity(inc: Status, exc: Status, expected: str) -> None:
    assert trial_status(_results(inc, exc), TRIAL) == expected


def test_an_unknown_attestation_does_not_block_likely() -> None:
    assert trial_status(_results("met", "not_met", "unknown"), TRIAL) == "likely_eligible"


def test_passes_and_fails_follow_the_role() -> None:
    assert CriterionResult("x", "not_met", "r", role="exclusion").passes
    assert not CriterionResult("x", "not_met", "r", role="exclusion").fails
    assert CriterionResult("x", "met", "r", role="exclusion").fails
    assert CriterionResult("x", "met", "r").passes
    assert not CriterionResult("x", "unknown", "r").passes
    assert not CriterionResult("x", "unknown", "r", role="exclusion").fails
    assert CriterionResult("x", "met", "r", role="exclusion").to_json()["role"] == "exclusion"


def _ev(reference: str, day: str | None) -> Evidence:
    return Evidence(reference, 1.0, "mg/dL", day)


def test_needed_by_is_the_oldest_evidence_plus_the_lookback() -> None:
    result = CriterionResult(
        "inc", "met", "r", (_ev("Observation/a", "2026-02-20"), _ev("Observation/b", "2026-02-10"))
    )
    assert needed_by(TRIAL.criterion("inc"), result) == date(2026, 3, 10)


@pytest.mark.parametrize(
    "evidence",
    [
        (),
        (_ev("Patient/p", "1960-01-01"),),  # age does not expire
        (_ev("Observation/a", "2026-02"),),  # partial date: no day to count from
        (_ev("Observation/a", None),),
    ],
)
def test_needed_by_none_without_expiring_evidence(evidence: tuple[Evidence, ...]) -> None:
    assert needed_by(TRIAL.criterion("inc"), CriterionResult("inc", "met", "r", evidence)) is None


def test_unknown_results_have_no_deadline() -> None:
    result = CriterionResult("inc", "unknown", "r", (_ev("Observation/a", "2026-02-20"),))
    assert needed_by(TRIAL.criterion("inc"), result) is None


def test_screen_by_is_the_earliest_over_criteria() -> None:
    result = TrialResult(
        "t",
        "likely_eligible",
        (
            CriterionResult("inc", "met", "r", (_ev("Observation/a", "2026-02-20"),)),
            CriterionResult(
                "exc", "not_met", "r", (_ev("Condition/c", "2026-01-01"),), role="exclusion"
            ),
            CriterionResult("consent", "unknown", "r"),
        ),
    )
    # inc: 2026-02-20 + 28 = 2026-03-20; exc: 2026-01-01 + 90 = 2026-04-01.
    assert screen_by(TRIAL, result) == date(2026, 3, 20)
    assert screen_by(TRIAL, TrialResult("t", "possibly_eligible", ())) is None


def test_recruitment_status_is_read_from_the_registry() -> None:
    assert TRIAL.recruiting
    assert TRIAL.registry_id == "NCT0"
