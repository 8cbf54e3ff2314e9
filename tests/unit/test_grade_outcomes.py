"""Ordinal grades checked whole: a coded answer is shown by its display with its grade, and
no result says which grade is missing."""

from __future__ import annotations

import dataclasses

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


def test_a_bounded_quantity_takes_the_grade_of_the_largest_value_it_allows() -> None:
    # Bands: < 100 mg/dL is 1+, 100–299 is 2+. "<100" is at most 1+; "<101" may be 100 (2+).
    below = obs(DIP, q=100, unit="mg/dL", comparator="<")
    met = run(DIPSTICK, record(below))
    assert (met.status, met.reason) == ("met", f"Urine protein dipstick <100 mg/dL on {WHEN} (< 2)")
    assert met.evidence == (Evidence(below.ref, "<100 mg/dL", None, WHEN, "grade 1"),)
    straddling = obs(DIP, q=101, unit="mg/dL", comparator="<")
    result = run(DIPSTICK, record(straddling))
    assert (result.status, result.reason) == (
        "unknown",
        f"Urine protein dipstick <101 mg/dL on {WHEN} may be below or above 2",
    )
    assert result.evidence == (
        Evidence(straddling.ref, "<101 mg/dL", None, WHEN, "grade 2 at most"),
    )


def test_a_quantity_at_a_band_edge() -> None:
    at = run(DIPSTICK, record(obs(DIP, q=100, unit="mg/dL")))
    assert (at.status, at.reason) == (
        "not_met",
        f"Urine protein dipstick 100 mg/dL on {WHEN} (≥ 2)",
    )
    below = run(DIPSTICK, record(obs(DIP, q=99, unit="mg/dL")))
    assert (below.status, below.reason) == (
        "met",
        f"Urine protein dipstick 99 mg/dL on {WHEN} (< 2)",
    )


def test_results_that_give_no_grade() -> None:
    wrong_unit = obs(DIP, q=30, unit="furlong")
    result = run(DIPSTICK, record(wrong_unit))
    assert (result.status, result.reason) == (
        "unknown",
        f"Urine protein dipstick: unit 'furlong' not recognised ({wrong_unit.ref}, {WHEN})",
    )
    assert result.evidence == (Evidence(wrong_unit.ref, 30, "furlong", WHEN, None),)
    open_ended = obs(DIP, q=30, unit="mg/dL", comparator=">")
    result = run(DIPSTICK, record(open_ended))
    assert (result.status, result.reason) == (
        "unknown",
        f"Urine protein dipstick >30 mg/dL on {WHEN} may be below or above 2",
    )
    assert result.evidence == (
        Evidence(open_ended.ref, ">30 mg/dL", None, WHEN, "grade 1 at least"),
    )
    two_grades = obs(DIP, coded=(LOINC, "LA11834-1"))
    two_grades = dataclasses.replace(
        two_grades,
        value=dataclasses.replace(
            two_grades.value, codes=frozenset({(LOINC, "LA11833-3"), (LOINC, "LA11834-1")})
        ),
    )
    result = run(DIPSTICK, record(two_grades))
    assert (result.status, result.reason) == (
        "unknown",
        "Urine protein dipstick: the result is coded as different grades (1+, 2+) "
        f"({two_grades.ref}, {WHEN})",
    )
    assert result.evidence == (Evidence(two_grades.ref, "LA11833-3", None, WHEN, None),)
    words = obs(DIP, text="lots")
    result = run(DIPSTICK, record(words))
    assert (result.status, result.reason) == (
        "unknown",
        f"Urine protein dipstick: result not readable as a grade ({words.ref}, {WHEN})",
    )
    assert result.evidence == (Evidence(words.ref, "lots", None, WHEN, None),)
