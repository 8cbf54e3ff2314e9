"""Presence and histology rules on Conditions checked whole where the order of the record,
a repeated code set or a missing clinical status could change the answer or its evidence."""

from __future__ import annotations

from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import ICDO3
from tests.unit.test_engine_rules import cond, day
from tests.unit.test_rules_generic import PROSTATE, RECTAL, SIGNET, malignancy, rec, run


def test_an_excepted_newer_condition_does_not_hide_an_older_one() -> None:
    prostate = cond(PROSTATE, days=400)
    result = run(malignancy(), rec(conditions=(cond(RECTAL, days=10), prostate)), lookback=1826)
    assert (result.status, result.reason) == (
        "met",
        f"Other malignancy: condition on {day(400)}, active",
    )


def test_an_inactive_newer_condition_does_not_hide_an_active_one() -> None:
    active = cond(PROSTATE, days=400)
    resolved = cond(PROSTATE, days=10, clinical="resolved")
    rule = malignancy(active_only=True)
    result = run(rule, rec(conditions=(resolved, active)), lookback=1826)
    assert (result.status, result.reason) == (
        "met",
        f"Other malignancy: condition on {day(400)}, active",
    )
    assert result.evidence == (Evidence(active.ref, PROSTATE[1], None, day(400).isoformat()),)


def test_no_clinical_status_is_left_out_of_the_reason() -> None:
    prostate = cond(PROSTATE, days=400, clinical=None)
    result = run(malignancy(), rec(conditions=(prostate,)), lookback=1826)
    assert (result.status, result.reason) == ("met", f"Other malignancy: condition on {day(400)}")


def test_a_condition_in_two_listed_code_sets_is_cited_once() -> None:
    undated = cond(PROSTATE, days=None)
    rule = malignancy(code_sets=["malignancy_dx", "malignancy_dx"])
    result = run(rule, rec(conditions=(undated,)), lookback=1826)
    assert (result.status, result.reason) == (
        "unknown",
        f"Other malignancy: {undated.ref} on record without a date",
    )
    assert result.evidence == (Evidence(undated.ref, PROSTATE[1], None, None),)


def test_another_histology_is_not_met_with_the_diagnosis_cited() -> None:
    adeno = cond(RECTAL, histology=frozenset({(ICDO3, "8140/3")}))
    result = run(SIGNET, rec(conditions=(adeno,)), lookback=3650)
    assert (result.status, result.reason) == (
        "not_met",
        f"Signet ring: not the histology recorded in {adeno.ref} on {day(60)}",
    )
    assert result.evidence == (
        Evidence(adeno.ref, RECTAL[1], None, day(60).isoformat(), "histology"),
    )
