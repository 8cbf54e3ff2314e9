"""Ordinal grades checked whole: a coded answer is shown by its display with its grade, and
no result says which grade is missing."""

from __future__ import annotations

from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import LOINC
from tests.unit.test_engine_rules import DIP, day, obs, record, run

WHEN = day(1).isoformat()
DIPSTICK = {
    "type": "ordinal_grade",
    "label": "Urine protein dipstick",
    "code_set": "urine_protein_dipstick",
    "below": 2,
}


def test_a_coded_answer_is_shown_by_its_display() -> None:
    one = obs(DIP, coded=(LOINC, "LA11833-3"))
    met = run(DIPSTICK, record(one))
    assert (met.status, met.reason) == ("met", f"Urine protein dipstick 1+ on {WHEN} (< 2)")
    assert met.evidence == (Evidence(one.ref, "1+", None, WHEN, "grade 1"),)
    two = obs(DIP, coded=(LOINC, "LA11834-1"))
    not_met = run(DIPSTICK, record(two))
    assert (not_met.status, not_met.reason) == (
        "not_met",
        f"Urine protein dipstick 2+ on {WHEN} (≥ 2)",
    )
    assert not_met.evidence == (Evidence(two.ref, "2+", None, WHEN, "grade 2"),)


def test_no_result_is_named() -> None:
    result = run(DIPSTICK, record())
    assert (result.status, result.reason, result.evidence) == (
        "unknown",
        "Urine protein dipstick: no result in the last 28 days",
        (),
    )
