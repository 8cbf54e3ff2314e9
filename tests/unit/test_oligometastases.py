"""The oligometastases rule checked whole: every path's status, the reason a clinician reads
and the evidence, at the trial's limits (≤ 2 organ sites, ≤ 5 lesions, metastases within 180
days of the primary), with counts from metastasis diagnoses, from imaging Observations, or
both, and with the unknowns (suspected, undated, unreadable, conflicting)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cds_hooks.eligibility import CriterionResult
from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import ICD10CM, LOINC, SNOMED, ConditionFact, ObservationFact
from tests.unit.test_engine_rules import (
    BONE,
    C20,
    LESIONS,
    LIVER,
    LUNG,
    OLIGO,
    SITES,
    cond,
    day,
    obs,
    record,
    run,
)

BRAIN = (ICD10CM, "C79.31")
UNSPECIFIED = (ICD10CM, "C79.9")  # "secondary malignant neoplasm of unspecified site"
LIVER_SITE = (SNOMED, "10200004")
LUNG_SITE = (SNOMED, "39607008")
M_STAGE = (LOINC, "21901-4")
M0 = (SNOMED, "30893008")
M1 = (SNOMED, "55440008")


def iso(days: int) -> str:
    return day(days).isoformat()


def oligo(
    *facts: ObservationFact,
    mets: tuple[ConditionFact, ...] = (),
    primary_days: int | None = 40,
    rule: dict[str, Any] | None = None,
    unavailable: dict[str, str] | None = None,
) -> CriterionResult:
    primaries = (cond(C20, days=primary_days),)
    return run(
        rule or OLIGO,
        record(*facts, conditions=(*primaries, *mets), unavailable=unavailable),
        lookback=90,
    )


def met_ev(c: ConditionFact, note: str | None = None) -> Evidence:
    return Evidence(
        c.ref, sorted(c.codes)[0][1], None, c.date.isoformat() if c.date else None, note
    )


def count_ev(fact: ObservationFact, note: str) -> Evidence:
    assert fact.date is not None
    value = fact.value.integer
    if value is None:
        assert fact.value.quantity is not None
        return Evidence(
            fact.ref,
            fact.value.quantity.value,
            fact.value.quantity.unit,
            fact.date.isoformat(),
            note,
        )
    return Evidence(fact.ref, value, None, fact.date.isoformat(), note)


# --------------------------------------------------------------------------- sites and lesions
def test_at_the_limits_is_met_with_every_piece_of_evidence() -> None:
    liver, lung = cond(LIVER, days=30), cond(LUNG, days=30)
    lesions = obs(LESIONS, integer=5, days=10)
    result = oligo(lesions, mets=(liver, lung))
    assert (result.status, result.reason) == (
        "met",
        "2 metastatic sites (liver, lung), 5 lesions (≤ 2 sites, ≤ 5 lesions)",
    )
    assert set(result.evidence) == {
        met_ev(liver),
        met_ev(lung),
        count_ev(lesions, "metastatic lesions"),
    }
    assert len(result.evidence) == 3


def test_one_site_is_singular() -> None:
    result = oligo(obs(LESIONS, integer=1), mets=(cond(LIVER, days=30),))
    assert (result.status, result.reason) == (
        "met",
        "1 metastatic site (liver), 1 lesions (≤ 2 sites, ≤ 5 lesions)",
    )


def test_one_site_above_the_limit_is_not_met() -> None:
    three = (cond(LIVER, days=30), cond(LUNG, days=30), cond(BONE, days=30))
    result = oligo(obs(LESIONS, integer=3), mets=three)
    assert (result.status, result.reason) == (
        "not_met",
        "3 metastatic sites (bone, liver, lung): more than 2",
    )


def test_one_lesion_above_the_limit_is_not_met() -> None:
    lesions = obs(LESIONS, integer=6)
    result = oligo(lesions, mets=(cond(LIVER, days=30), cond(LUNG, days=30)))
    assert (result.status, result.reason) == ("not_met", "6 metastatic lesions: more than 5")
    assert count_ev(lesions, "metastatic lesions") in result.evidence


def test_two_metastases_in_one_organ_are_one_site() -> None:
    result = oligo(obs(LESIONS, integer=2), mets=(cond(LIVER, days=30), cond(LIVER, days=20)))
    assert (result.status, result.reason) == (
        "met",
        "1 metastatic site (liver), 2 lesions (≤ 2 sites, ≤ 5 lesions)",
    )


def test_the_site_of_an_unspecified_metastasis_comes_from_its_body_site() -> None:
    on_liver = cond(UNSPECIFIED, days=30, body_sites=frozenset({LIVER_SITE}))
    result = oligo(obs(LESIONS, integer=2), mets=(on_liver, cond(LIVER, days=30)))
    assert (result.status, result.reason) == (
        "met",
        "1 metastatic site (liver), 2 lesions (≤ 2 sites, ≤ 5 lesions)",
    )
    on_lung = cond(UNSPECIFIED, days=30, body_sites=frozenset({LUNG_SITE}))
    result = oligo(obs(LESIONS, integer=2), mets=(on_lung, cond(LIVER, days=30)))
    assert result.reason == "2 metastatic sites (liver, lung), 2 lesions (≤ 2 sites, ≤ 5 lesions)"


def test_a_metastasis_of_no_known_site_leaves_the_site_count_open() -> None:
    nowhere = cond(UNSPECIFIED, days=30)
    result = oligo(obs(LESIONS, integer=2), mets=(nowhere, cond(LIVER, days=30)))
    assert (result.status, result.reason) == (
        "unknown",
        "Metastases on record but the number of organ sites cannot be established",
    )
    # Known sites above the limit decide even so.
    three = (nowhere, cond(LIVER, days=30), cond(LUNG, days=30), cond(BRAIN, days=30))
    result = oligo(obs(LESIONS, integer=4), mets=three)
    assert (result.status, result.reason) == (
        "not_met",
        "At least 3 metastatic sites (brain, liver, lung): more than 2",
    )


def test_inactive_metastases_are_not_counted() -> None:
    resolved = cond(LUNG, days=30, clinical="resolved")
    result = oligo(obs(LESIONS, integer=2), mets=(cond(LIVER, days=30), resolved))
    assert result.reason == "1 metastatic site (liver), 2 lesions (≤ 2 sites, ≤ 5 lesions)"
    assert resolved.ref not in {e.reference for e in result.evidence}


def test_lesions_fewer_than_sites_is_inconsistent() -> None:
    result = oligo(obs(LESIONS, integer=1), mets=(cond(LIVER, days=30), cond(LUNG, days=30)))
    assert (result.status, result.reason) == (
        "unknown",
        "2 metastatic sites (liver, lung) but only 1 lesions recorded: inconsistent",
    )


def test_no_lesion_count_is_unknown() -> None:
    result = oligo(mets=(cond(LIVER, days=30), cond(LUNG, days=30)))
    assert (result.status, result.reason) == (
        "unknown",
        "2 metastatic sites (liver, lung); total lesion count not recorded in the last 90 days",
    )


def test_a_lesion_count_outside_the_window_is_not_used() -> None:
    result = oligo(obs(LESIONS, integer=3, days=91), mets=(cond(LIVER, days=30),))
    assert result.status == "unknown"
    assert "total lesion count not recorded in the last 90 days" in result.reason
    inside = oligo(obs(LESIONS, integer=3, days=90), mets=(cond(LIVER, days=30),))
    assert inside.status == "met"


@pytest.mark.parametrize("newest_first", [True, False])
def test_the_newest_lesion_count_decides(newest_first: bool) -> None:
    new, old = obs(LESIONS, integer=6, days=5), obs(LESIONS, integer=3, days=50)
    facts = (new, old) if newest_first else (old, new)
    result = oligo(*facts, mets=(cond(LIVER, days=30),))
    assert (result.status, result.reason) == ("not_met", "6 metastatic lesions: more than 5")
    assert count_ev(new, "metastatic lesions") in result.evidence
    assert old.ref not in {e.reference for e in result.evidence}


def test_a_preliminary_lesion_count_is_not_used() -> None:
    result = oligo(obs(LESIONS, integer=3, status="preliminary"), mets=(cond(LIVER, days=30),))
    assert result.status == "unknown"


# --------------------------------------------------------------------------- counts as Observations
def test_counts_from_imaging_observations() -> None:
    sites, lesions = obs(SITES, integer=2, days=10), obs(LESIONS, integer=5, days=10)
    result = oligo(sites, lesions)
    assert (result.status, result.reason) == (
        "met",
        "2 metastatic sites, 5 lesions (≤ 2 sites, ≤ 5 lesions)",
    )
    assert result.evidence == (
        count_ev(lesions, "metastatic lesions"),
        count_ev(sites, "metastatic sites"),
    )
    one = oligo(obs(SITES, integer=1), obs(LESIONS, integer=1))
    assert one.reason == "1 metastatic site, 1 lesions (≤ 2 sites, ≤ 5 lesions)"
    three = oligo(obs(SITES, integer=3), obs(LESIONS, integer=3))
    assert (three.status, three.reason) == ("not_met", "3 metastatic sites: more than 2")


def test_a_whole_number_quantity_is_a_count() -> None:
    sites = obs(SITES, q=2.0, unit="{count}")
    lesions = obs(LESIONS, q=4.0, unit="{count}")
    result = oligo(sites, lesions)
    assert (result.status, result.reason) == (
        "met",
        "2 metastatic sites, 4 lesions (≤ 2 sites, ≤ 5 lesions)",
    )
    assert count_ev(sites, "metastatic sites") in result.evidence
    too_many = oligo(obs(SITES, q=3.0, unit="{count}"), obs(LESIONS, q=4.0, unit="{count}"))
    assert (too_many.status, too_many.reason) == ("not_met", "3 metastatic sites: more than 2")


def test_the_imaging_site_count_beats_the_diagnoses_when_it_is_higher() -> None:
    # Liver metastasis on record; imaging counts three organ sites.
    result = oligo(obs(SITES, integer=3), obs(LESIONS, integer=4), mets=(cond(LIVER, days=30),))
    assert (result.status, result.reason) == ("not_met", "3 metastatic sites: more than 2")


def test_site_count_equal_to_the_organs_on_record_is_not_conflicting() -> None:
    two = (cond(LIVER, days=30), cond(LUNG, days=30))
    result = oligo(obs(SITES, integer=2), obs(LESIONS, integer=4), mets=two)
    assert (result.status, result.reason) == (
        "met",
        "2 metastatic sites, 4 lesions (≤ 2 sites, ≤ 5 lesions)",
    )


@pytest.mark.parametrize(("total", "word"), [(1, "site"), (2, "sites")])
def test_site_count_below_the_organs_on_record_is_conflicting(total: int, word: str) -> None:
    organs = (cond(LIVER, days=30), cond(LUNG, days=30), cond(BRAIN, days=30))[: total + 1]
    names = ", ".join(sorted(("liver", "lung", "brain")[: total + 1]))
    result = oligo(obs(SITES, integer=total), obs(LESIONS, integer=4), mets=organs)
    assert (result.status, result.reason) == (
        "unknown",
        f"{total} metastatic {word} recorded but metastases on record in {total + 1} organs "
        f"({names}): conflicting",
    )


# --------------------------------------------------------------------------- M stage
def test_staged_m0_without_metastases_is_not_met() -> None:
    m_stage = obs(M_STAGE, coded=M0, days=20)
    result = oligo(m_stage)
    assert (result.status, result.reason) == (
        "not_met",
        f"Staged M0 (no distant metastasis) on {iso(20)}",
    )
    assert result.evidence == (Evidence(m_stage.ref, M0[1], None, iso(20), "M category"),)


def test_staged_m0_with_metastases_is_conflicting() -> None:
    m_stage = obs(M_STAGE, coded=M0, days=20)
    liver = cond(LIVER, days=30)
    result = oligo(m_stage, obs(LESIONS, integer=1), mets=(liver,))
    assert (result.status, result.reason) == (
        "unknown",
        "Staged M0 but metastases are on record: conflicting staging",
    )
    assert result.evidence == (
        met_ev(liver),
        Evidence(m_stage.ref, M0[1], None, iso(20), "M category"),
    )


def test_staged_m1_is_evidence_not_a_decision() -> None:
    m_stage = obs(M_STAGE, coded=M1, days=20)
    result = oligo(m_stage, obs(LESIONS, integer=2), mets=(cond(LIVER, days=30),))
    assert result.status == "met"
    assert Evidence(m_stage.ref, M1[1], None, iso(20), "M category") in result.evidence
    assert oligo(m_stage).reason == "No metastasis on record"


def test_an_m0_older_than_the_window_does_not_decide() -> None:
    result = oligo(obs(M_STAGE, coded=M0, days=120))
    assert (result.status, result.reason) == ("unknown", "No metastasis on record")
    assert result.evidence == ()


# --------------------------------------------------------------------------- synchronous
@pytest.mark.parametrize(("met_days", "status"), [(221, "met"), (220, "met"), (219, "not_met")])
def test_synchronous_boundary(met_days: int, status: str) -> None:
    # Primary 400 days ago; 180 days later is 220 days ago.
    liver = cond(LIVER, days=met_days)
    result = oligo(obs(LESIONS, integer=1), mets=(liver,), primary_days=400)
    assert result.status == status
    if status == "not_met":
        assert result.reason == (
            f"Metastasis {liver.ref} diagnosed 181 days after the primary "
            "(metachronous, not synchronous)"
        )


def test_the_first_primary_diagnosis_is_the_reference() -> None:
    # A later re-coding of the primary does not make a late metastasis synchronous.
    liver = cond(LIVER, days=100)
    recoded = cond(C20, days=150)
    rec = record(obs(LESIONS, integer=1), conditions=(recoded, cond(C20, days=400), liver))
    result = run(OLIGO, rec, lookback=90)
    assert (result.status, result.reason) == (
        "not_met",
        f"Metastasis {liver.ref} diagnosed 300 days after the primary "
        "(metachronous, not synchronous)",
    )


def test_no_synchronous_limit_skips_the_check_but_an_undated_primary_does_not() -> None:
    rule = {k: v for k, v in OLIGO.items() if k != "synchronous_within_days"}
    late = (cond(LIVER, days=30),)
    assert oligo(obs(LESIONS, integer=1), mets=late, primary_days=400, rule=rule).status == "met"
    assert oligo(obs(LESIONS, integer=1), mets=late, primary_days=None, rule=rule).status == "met"
    # With a limit, the primary's date is what synchronous is measured from.
    undated = oligo(obs(LESIONS, integer=1), mets=late, primary_days=None)
    assert undated.status == "unknown"
    assert undated.reason.startswith("Synchronous or metachronous cannot be told: the primary")


def test_an_undated_metastasis_is_unknown() -> None:
    undated = cond(LUNG, days=None)
    result = oligo(obs(LESIONS, integer=2), mets=(cond(LIVER, days=30), undated))
    assert (result.status, result.reason) == (
        "unknown",
        f"2 metastatic sites (liver, lung), 2 lesions, but {undated.ref} is undated",
    )
    assert met_ev(undated) in result.evidence


# --------------------------------------------------------------------------- unknowns
def test_no_metastasis_and_no_count_is_unknown() -> None:
    result = oligo()
    assert (result.status, result.reason, result.evidence) == (
        "unknown",
        "No metastasis on record",
        (),
    )


def test_a_lesion_count_alone_does_not_give_the_sites() -> None:
    lesions = obs(LESIONS, integer=2)
    result = oligo(lesions)
    assert (result.status, result.reason) == (
        "unknown",
        "Metastases on record but the number of organ sites cannot be established",
    )
    assert result.evidence == (count_ev(lesions, "metastatic lesions"),)


def test_a_site_count_alone_needs_the_lesions() -> None:
    result = oligo(obs(SITES, integer=2))
    assert (result.status, result.reason) == (
        "unknown",
        "2 metastatic sites; total lesion count not recorded in the last 90 days",
    )


@pytest.mark.parametrize("verification", ["provisional", "differential", "unconfirmed"])
def test_a_suspected_metastasis_is_unknown(verification: str) -> None:
    suspected = dataclasses.replace(cond(LUNG, days=30, verification=verification), suspected=True)
    result = oligo(obs(LESIONS, integer=2), mets=(cond(LIVER, days=30), suspected))
    assert (result.status, result.reason) == (
        "unknown",
        f"Metastasis {suspected.ref} is suspected, not confirmed: the number of sites "
        "cannot be established",
    )
    assert result.evidence == (met_ev(suspected, "suspected, not confirmed"),)
    shown = dataclasses.replace(suspected, display="Lung nodule, probable metastasis")
    assert oligo(mets=(shown,)).reason.startswith("Metastasis Lung nodule, probable metastasis is")


def test_refuted_metastasis_is_not_counted() -> None:
    refuted = cond(LUNG, days=30, verification="refuted")
    result = oligo(obs(LESIONS, integer=2), mets=(cond(LIVER, days=30), refuted))
    assert result.reason == "1 metastatic site (liver), 2 lesions (≤ 2 sites, ≤ 5 lesions)"


def test_conditions_that_could_not_be_retrieved_are_unknown() -> None:
    result = oligo(
        obs(SITES, integer=1), obs(LESIONS, integer=1), unavailable={"Condition": "HTTP 503"}
    )
    assert (result.status, result.reason, result.evidence) == (
        "unknown",
        "Conditions could not be retrieved (HTTP 503)",
        (),
    )


def test_a_metastasis_of_no_known_site_does_not_hide_a_conflict() -> None:
    two = (cond(UNSPECIFIED, days=30), cond(LIVER, days=30), cond(LUNG, days=30))
    result = oligo(obs(SITES, integer=1), obs(LESIONS, integer=4), mets=two)
    assert (result.status, result.reason) == (
        "unknown",
        "1 metastatic site recorded but metastases on record in 2 organs (liver, lung): "
        "conflicting",
    )


# --------------------------------------------------------------------------- zero and unreadable
def test_zero_sites_and_lesions_on_imaging_is_not_oligometastatic() -> None:
    result = oligo(obs(SITES, integer=0), obs(LESIONS, integer=0))
    assert (result.status, result.reason) == (
        "not_met",
        "0 metastatic sites, 0 lesions: no distant metastasis",
    )


def test_zero_sites_with_lesions_is_inconsistent() -> None:
    result = oligo(obs(SITES, integer=0), obs(LESIONS, integer=3))
    assert (result.status, result.reason) == (
        "unknown",
        "0 metastatic sites recorded, but 3 lesions: inconsistent",
    )
    nowhere = cond(UNSPECIFIED, days=30)
    result = oligo(obs(SITES, integer=0), obs(LESIONS, integer=0), mets=(nowhere,))
    assert (result.status, result.reason) == (
        "unknown",
        "0 metastatic sites recorded, but 0 lesions and metastases on record: inconsistent",
    )


@pytest.mark.parametrize(
    ("value", "comparator", "shown"),
    [(2.0, ">", ">2"), (2.0, ">=", ">=2"), (3.0, "<", "<3"), (1.5, None, "1.5")],
)
def test_a_site_count_that_is_not_an_exact_whole_number_is_unknown(
    value: float, comparator: str | None, shown: str
) -> None:
    sites = obs(SITES, q=value, unit="{count}", comparator=comparator)
    result = oligo(sites, obs(LESIONS, integer=3), mets=(cond(LIVER, days=30),))
    assert (result.status, result.reason) == (
        "unknown",
        f"Metastatic site count {sites.ref} on {iso(1)} is {shown}, not an exact whole number",
    )


@pytest.mark.parametrize(
    ("value", "comparator", "shown"), [(4.0, "<", "<4"), (5.0, "<=", "<=5"), (2.5, None, "2.5")]
)
def test_a_lesion_count_that_is_not_an_exact_whole_number_is_unknown(
    value: float, comparator: str | None, shown: str
) -> None:
    lesions = obs(LESIONS, q=value, unit="{count}", comparator=comparator)
    result = oligo(lesions, mets=(cond(LIVER, days=30),))
    assert (result.status, result.reason) == (
        "unknown",
        f"Metastatic lesion count {lesions.ref} on {iso(1)} is {shown}, not an exact whole number",
    )


def test_a_count_given_as_text_is_unknown() -> None:
    lesions = obs(LESIONS, text="several")
    result = oligo(lesions, mets=(cond(LIVER, days=30),))
    assert (result.status, result.reason) == (
        "unknown",
        f"Metastatic lesion count {lesions.ref} on {iso(1)} is several, not an exact whole number",
    )


def test_decisive_counts_decide_before_an_unreadable_one() -> None:
    three = (cond(LIVER, days=30), cond(LUNG, days=30), cond(BONE, days=30))
    result = oligo(obs(LESIONS, q=4.0, unit="{count}", comparator="<"), mets=three)
    assert (result.status, result.reason) == (
        "not_met",
        "3 metastatic sites (bone, liver, lung): more than 2",
    )


def test_every_decision_cites_its_evidence() -> None:
    liver, lung, bone = cond(LIVER, days=30), cond(LUNG, days=30), cond(BONE, days=30)
    lesions = obs(LESIONS, integer=3)
    too_many = oligo(lesions, mets=(liver, lung, bone))
    assert set(too_many.evidence) == {
        met_ev(liver),
        met_ev(lung),
        met_ev(bone),
        count_ev(lesions, "metastatic lesions"),
    }
    sites = obs(SITES, integer=1)
    conflicting = oligo(sites, lesions, mets=(liver, lung))
    assert conflicting.status == "unknown"
    assert set(conflicting.evidence) == {
        met_ev(liver),
        met_ev(lung),
        count_ev(lesions, "metastatic lesions"),
        count_ev(sites, "metastatic sites"),
    }
    nowhere = cond(UNSPECIFIED, days=30)
    at_least = oligo(lesions, mets=(nowhere, liver, lung, bone))
    assert at_least.status == "not_met"
    assert set(at_least.evidence) == {
        met_ev(nowhere),
        met_ev(liver),
        met_ev(lung),
        met_ev(bone),
        count_ev(lesions, "metastatic lesions"),
    }


def test_known_sites_at_the_limit_with_one_of_no_known_site_stay_open() -> None:
    nowhere = cond(UNSPECIFIED, days=30)
    result = oligo(
        obs(LESIONS, integer=3), mets=(nowhere, cond(LIVER, days=30), cond(LUNG, days=30))
    )
    assert (result.status, result.reason) == (
        "unknown",
        "Metastases on record but the number of organ sites cannot be established",
    )


def test_unknown_and_zero_answers_cite_their_evidence() -> None:
    liver, lung = cond(LIVER, days=30), cond(LUNG, days=30)
    m1 = obs(M_STAGE, coded=M1, days=20)
    m1_ev = Evidence(m1.ref, M1[1], None, iso(20), "M category")
    assert oligo(m1).evidence == (m1_ev,)

    fraction = obs(LESIONS, q=2.5, unit="{count}")
    unreadable = oligo(fraction, mets=(liver,))
    assert set(unreadable.evidence) == {met_ev(liver), count_ev(fraction, "metastatic lesions")}

    lesions = obs(LESIONS, integer=1)
    late = cond(LIVER, days=100)
    metachronous = oligo(lesions, mets=(late,), primary_days=400)
    assert metachronous.status == "not_met"
    assert set(metachronous.evidence) == {met_ev(late), count_ev(lesions, "metastatic lesions")}

    nowhere = cond(UNSPECIFIED, days=30)
    open_sites = oligo(lesions, mets=(nowhere,))
    assert open_sites.reason == (
        "Metastases on record but the number of organ sites cannot be established"
    )
    assert set(open_sites.evidence) == {met_ev(nowhere), count_ev(lesions, "metastatic lesions")}

    no_lesions = oligo(mets=(liver,))
    assert no_lesions.evidence == (met_ev(liver),)

    zero_sites, zero_lesions = obs(SITES, integer=0), obs(LESIONS, integer=0)
    zero = oligo(zero_sites, zero_lesions)
    assert zero.evidence == (
        count_ev(zero_lesions, "metastatic lesions"),
        count_ev(zero_sites, "metastatic sites"),
    )
    some = obs(LESIONS, integer=3)
    contradicted = oligo(zero_sites, some)
    assert contradicted.status == "unknown"
    assert contradicted.evidence == (
        count_ev(some, "metastatic lesions"),
        count_ev(zero_sites, "metastatic sites"),
    )

    inconsistent = oligo(lesions, mets=(liver, lung))
    assert inconsistent.reason.endswith("inconsistent")
    assert set(inconsistent.evidence) == {
        met_ev(liver),
        met_ev(lung),
        count_ev(lesions, "metastatic lesions"),
    }
