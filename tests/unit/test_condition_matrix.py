"""Condition statuses and windows against the diagnosis and presence rules: every
clinical × verification status, and dates on, just inside and just outside the window."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from fhir_mappings.facts import SUSPECTED_VERIFICATION, Code, ConditionFact
from tests.unit.test_engine_rules import (
    C20,
    DIAGNOSIS,
    HISTOLOGY,
    RECTAL_ADENO,
    day,
    diagnose,
    record,
    run,
)
from tests.unit.test_engine_rules import cond as plain_cond
from tests.unit.test_rules_generic import PROSTATE, malignancy, rec


def cond(*codes: Code, **kw: Any) -> ConditionFact:
    """A condition fact as the reader builds it: `suspected` follows the verification."""
    fact = plain_cond(*codes, **kw)
    return dataclasses.replace(fact, suspected=fact.verification_status in SUSPECTED_VERIFICATION)


CLINICAL = {
    "active": True,
    "recurrence": True,
    "relapse": True,
    "inactive": False,
    "remission": False,
    "resolved": False,
}
VERIFICATION = {
    "confirmed": "counted",
    None: "counted",
    "unconfirmed": "suspected",
    "provisional": "suspected",
    "differential": "suspected",
    "refuted": "excluded",
    "entered-in-error": "excluded",
}


@pytest.mark.parametrize("clinical", list(CLINICAL))
@pytest.mark.parametrize("verification", list(VERIFICATION))
def test_diagnosis_clinical_and_verification_matrix(
    clinical: str, verification: str | None
) -> None:
    c = cond(RECTAL_ADENO, clinical=clinical, verification=verification)
    result = diagnose(record(conditions=(c,)))
    kind = VERIFICATION[verification]
    if kind == "excluded":
        assert result.status == "not_met"
        assert result.reason == (
            f"No rectal adenocarcinoma on record ({c.ref} is refuted or entered in error)"
        )
    elif not CLINICAL[clinical]:
        assert result.status == "unknown"
        assert result.reason == (
            f"Diagnosis on record is marked {clinical}; confirm current disease"
        )
    elif kind == "suspected":
        assert result.status == "unknown"
        assert "is suspected, not confirmed" in result.reason
        assert f"(verificationStatus {verification})" in result.reason
    else:
        assert result.status == "met"
        assert result.evidence[0].reference == c.ref


def test_a_confirmed_diagnosis_outweighs_a_suspected_one() -> None:
    suspected = cond(RECTAL_ADENO, verification="provisional", days=10)
    confirmed = cond(RECTAL_ADENO, days=90)
    result = diagnose(record(conditions=(suspected, confirmed)))
    assert result.status == "met"
    assert result.evidence[0].reference == confirmed.ref


@pytest.mark.parametrize(
    ("days", "expected"),
    [(0, "met"), (365, "met"), (366, "unknown"), (-1, "unknown")],
)
def test_diagnosis_date_on_the_edges_of_the_window(days: int, expected: str) -> None:
    c = cond(C20, histology=HISTOLOGY, days=days)
    result = diagnose(record(conditions=(c,)), lookback=365)
    assert result.status == expected
    if days == 366:
        assert result.reason == (
            f"Diagnosis dated {day(366).isoformat()}, 366 days ago, before this criterion's "
            "365-day window"
        )
    if days == -1:
        assert result.reason == f"Diagnosis dated {day(-1).isoformat()}, after the screening date"


def test_an_out_of_window_diagnosis_does_not_count_with_a_report_either() -> None:
    old = cond(C20, days=400)
    result = run(DIAGNOSIS, record(conditions=(old,)), lookback=365)
    assert result.status == "unknown"
    assert "without histology" in result.reason


def test_an_undated_diagnosis_is_unknown() -> None:
    result = diagnose(record(conditions=(cond(RECTAL_ADENO, days=None),)))
    assert result.status == "unknown"
    assert result.reason == "Diagnosis has no onset or recorded date"


@pytest.mark.parametrize(
    ("days", "expected"),
    [(1826, "met"), (1827, "not_met")],
)
def test_condition_present_on_the_first_and_just_before_the_window(
    days: int, expected: str
) -> None:
    result = run(malignancy(), rec(conditions=(cond(PROSTATE, days=days),)), lookback=1826)
    assert result.status == expected


@pytest.mark.parametrize("verification", ["unconfirmed", "provisional", "differential"])
def test_a_suspected_other_malignancy_is_neither_counted_nor_ignored(verification: str) -> None:
    c = cond(PROSTATE, verification=verification)
    result = run(malignancy(), rec(conditions=(c,)), lookback=1826)
    assert result.status == "unknown"
    assert f"(verificationStatus {verification})" in result.reason


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_an_excluded_other_malignancy_never_counts(verification: str) -> None:
    c = cond(PROSTATE, verification=verification)
    result = run(malignancy(), rec(conditions=(c,)), lookback=1826)
    assert result.status == "not_met"
    assert result.reason == "No other malignancy among 1 condition reviewed"
