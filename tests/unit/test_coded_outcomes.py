"""Coded answers checked whole. Ordered categories (AJCC cT) at every edge of the wanted
range: at, just inside and just outside min and max, a single wanted category, coarse
categories that may fall on both sides, several categories at once, not assessed, not on the
scale. Coded values whose answer is neither or both."""

from __future__ import annotations

import dataclasses

import pytest

from cds_hooks.eligibility import CriterionResult
from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import LOINC, SNOMED, ObservationValue
from tests.unit.test_engine_rules import day, obs
from tests.unit.test_rules_generic import BREASTFEEDING, CT, FEEDING, rec, run, stage

T_CODES = {
    "TX": "1222604002",
    "T0": "1228882005",
    "Tis": "1228884006",
    "T1": "1228889001",
    "T2": "1228929004",
    "T3": "1228938002",
    "T3a": "1228939005",
    "T3b": "1228940007",
    "T4": "1228944003",
    "T4a": "1228945002",
    "T4b": "1228946001",
}
WHEN = day(10).isoformat()


def staged(category: str, lo: str, hi: str) -> CriterionResult:
    fact = obs(CT, coded=(SNOMED, T_CODES[category]), days=10)
    result = run(stage(lo, hi), rec(fact), lookback=90)
    assert result.evidence == (Evidence(fact.ref, category, None, WHEN, "cT"),)
    return result


@pytest.mark.parametrize(
    ("category", "status"),
    [
        ("Tis", "not_met"),  # just below min
        ("T1", "met"),  # at min
        ("T2", "met"),
        ("T3a", "met"),
        ("T3b", "met"),  # at max
        ("T4a", "not_met"),  # just above max
        ("T4b", "not_met"),
    ],
)
def test_range_edges(category: str, status: str) -> None:
    result = staged(category, "T1", "T3b")
    word = "within" if status == "met" else "not"
    assert (result.status, result.reason) == (status, f"cT {category} on {WHEN}, {word} T1–T3b")


@pytest.mark.parametrize(
    ("category", "status"), [("T1", "not_met"), ("T2", "met"), ("T3", "not_met")]
)
def test_a_single_wanted_category(category: str, status: str) -> None:
    result = staged(category, "T2", "T2")
    word = "within" if status == "met" else "not"
    assert (result.status, result.reason) == (status, f"cT {category} on {WHEN}, {word} T2")


def test_a_coarse_category_on_both_sides_is_unknown() -> None:
    result = staged("T3", "T1", "T3b")
    assert (result.status, result.reason) == (
        "unknown",
        f"cT T3 on {WHEN} may or may not be within T1–T3b (could be T3a, T3b, T3c, T3d)",
    )


def test_a_coarse_category_wholly_inside_or_outside_decides() -> None:
    inside = staged("T3", "T3a", "T4b")
    assert (inside.status, inside.reason) == ("met", f"cT T3 on {WHEN}, within T3a–T4b")
    outside = staged("T4", "T1", "T3b")
    assert (outside.status, outside.reason) == ("not_met", f"cT T4 on {WHEN}, not T1–T3b")
    below = staged("T3", "T4a", "T4b")
    assert (below.status, below.reason) == ("not_met", f"cT T3 on {WHEN}, not T4a–T4b")


def test_not_assessed_is_unknown() -> None:
    result = staged("TX", "T1", "T3b")
    assert (result.status, result.reason) == ("unknown", f"cT TX on {WHEN}: not assessable")


def test_a_code_off_the_scale_is_unknown() -> None:
    fact = obs(CT, coded=(SNOMED, "999999"), days=10)
    result = run(stage("T1", "T3b"), rec(fact), lookback=90)
    assert (result.status, result.reason) == (
        "unknown",
        f"cT: not a category on this scale ({fact.ref}, {WHEN})",
    )
    assert result.evidence == (Evidence(fact.ref, "999999", None, WHEN, "cT"),)


def test_text_only_is_not_a_category() -> None:
    fact = obs(CT, text="T2", days=10)
    result = run(stage("T1", "T3b"), rec(fact), lookback=90)
    assert (result.status, result.reason) == (
        "unknown",
        f"cT: not a category on this scale ({fact.ref}, {WHEN})",
    )
    assert result.evidence == (Evidence(fact.ref, "T2", None, WHEN, "cT"),)


def test_two_categories_in_one_result_are_unknown() -> None:
    fact = obs(CT, coded=(SNOMED, T_CODES["T2"]), days=10)
    codes = frozenset({(SNOMED, T_CODES["T2"]), (SNOMED, T_CODES["T4a"])})
    fact = dataclasses.replace(fact, value=ObservationValue(codes=codes))
    result = run(stage("T1", "T3b"), rec(fact), lookback=90)
    assert (result.status, result.reason) == (
        "unknown",
        f"cT: several categories ({fact.ref}, {WHEN})",
    )
    assert result.evidence == (Evidence(fact.ref, T_CODES["T2"], None, WHEN, "cT"),)


def test_two_codes_of_one_category_are_one_category() -> None:
    fact = obs(CT, coded=(SNOMED, T_CODES["T2"]), days=10)
    codes = frozenset({(SNOMED, T_CODES["T2"]), ("http://example.org/local", "cT2")})
    fact = dataclasses.replace(fact, value=ObservationValue(codes=codes))
    result = run(stage("T1", "T3b"), rec(fact), lookback=90)
    assert (result.status, result.reason) == ("met", f"cT T2 on {WHEN}, within T1–T3b")


def test_no_result_is_unknown() -> None:
    result = run(stage("T1", "T3b"), rec(), lookback=90)
    assert (result.status, result.reason, result.evidence) == (
        "unknown",
        "cT: no result in the last 90 days",
        (),
    )


# --------------------------------------------------------------------------- coded values
def test_an_answer_neither_yes_nor_no_is_unknown_with_its_evidence() -> None:
    fact = obs(BREASTFEEDING, coded=(LOINC, "LA4489-6"), days=2)
    result = run(FEEDING, rec(fact), lookback=7)
    when = day(2).isoformat()
    assert (result.status, result.reason) == (
        "unknown",
        f"Breastfeeding: answer not one this criterion reads ({fact.ref}, {when})",
    )
    assert result.evidence == (Evidence(fact.ref, "LA4489-6", None, when, "Breastfeeding"),)


def test_a_yes_and_a_no_in_one_answer_are_conflicting() -> None:
    fact = obs(BREASTFEEDING, coded=(LOINC, "LA33-6"), days=2)
    codes = frozenset({(LOINC, "LA33-6"), (LOINC, "LA32-8")})
    fact = dataclasses.replace(fact, value=ObservationValue(codes=codes))
    result = run(FEEDING, rec(fact), lookback=7)
    when = day(2).isoformat()
    assert (result.status, result.reason) == (
        "unknown",
        f"Breastfeeding: conflicting codes ({fact.ref}, {when})",
    )
    assert result.evidence == (Evidence(fact.ref, "LA32-8", None, when, "Breastfeeding"),)
