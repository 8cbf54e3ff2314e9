"""Synchronous oligometastases are told from metachronous ones by the primary's date: a
primary with no date, or none on record, leaves the question open (a metastasis found a
year after the primary would otherwise pass for synchronous)."""

from __future__ import annotations

from fhir_mappings.facts import ConditionFact
from tests.unit.test_engine_rules import (
    BONE,
    C20,
    LESIONS,
    LIVER,
    LUNG,
    OLIGO,
    cond,
    obs,
    record,
    run,
)

TWO_SITES = (cond(LIVER, days=30), cond(LUNG, days=30))


def screen(*conditions: ConditionFact) -> tuple[str, str]:
    result = run(OLIGO, record(obs(LESIONS, integer=3), conditions=conditions), lookback=90)
    return result.status, result.reason


def test_a_dated_primary_decides_synchronous_or_metachronous() -> None:
    assert screen(cond(C20, days=40), *TWO_SITES)[0] == "met"
    status, reason = screen(cond(C20, days=400), *TWO_SITES)
    assert status == "not_met"
    assert reason.endswith("days after the primary (metachronous, not synchronous)")


def test_an_undated_primary_leaves_it_open() -> None:
    primary = cond(C20, days=None)
    assert screen(primary, *TWO_SITES) == (
        "unknown",
        f"Synchronous or metachronous cannot be told: the primary diagnosis {primary.ref} has "
        "no date",
    )


def test_no_primary_leaves_it_open() -> None:
    assert screen(*TWO_SITES) == (
        "unknown",
        "Synchronous or metachronous cannot be told: no primary diagnosis is on record",
    )


def test_the_open_question_cites_the_metastases_and_the_count() -> None:
    lesions = obs(LESIONS, integer=3)
    result = run(OLIGO, record(lesions, conditions=TWO_SITES), lookback=90)
    assert result.status == "unknown"
    assert [(e.reference, e.note) for e in result.evidence] == [
        (TWO_SITES[0].ref, None),
        (TWO_SITES[1].ref, None),
        (lesions.ref, "metastatic lesions"),
    ]


def test_too_many_sites_excludes_whatever_the_primary() -> None:
    three = (*TWO_SITES, cond(BONE, days=30))
    status, reason = screen(*three)
    assert status == "not_met"
    assert "more than 2" in reason
