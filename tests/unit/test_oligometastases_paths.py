"""Oligometastatic disease when a count or a metastasis cannot be taken as it is: two site
counts of one day that disagree, and a metastasis coded as status post. Each answer is
checked whole (status, reason, every piece of evidence and its note), as is a condition
without a readable code that may be one more site, and the diagnosis known only as status
post."""

from __future__ import annotations

import dataclasses

from cds_hooks.eligibility.results import Evidence
from tests.unit.test_engine_rules import (
    BONE,
    LESIONS,
    LIVER,
    LUNG,
    RECTAL_ADENO,
    SITES,
    cond,
    day,
    diagnose,
    obs,
    oligo,
    record,
)
from tests.unit.test_status_post import past


def test_two_site_counts_of_one_day_that_disagree_are_not_a_count() -> None:
    one, two = obs(SITES, integer=1, days=5), obs(SITES, integer=2, days=5)
    lesions = obs(LESIONS, integer=2)
    result = oligo(one, two, lesions)
    assert (result.status, result.reason) == (
        "unknown",
        f"Metastatic site count: 2 results on {day(5)} disagree ({one.ref}, {two.ref})",
    )
    assert result.evidence == (
        Evidence(lesions.ref, 2, None, day(1).isoformat(), "metastatic lesions"),
        Evidence(one.ref, 1, None, day(5).isoformat(), "metastatic sites"),
        Evidence(two.ref, 2, None, day(5).isoformat(), "metastatic sites"),
    )


def test_a_metastasis_coded_status_post_leaves_the_number_of_sites_open() -> None:
    resected = past(BONE, days=30)
    result = oligo(obs(LESIONS, integer=3), mets=(cond(LIVER, days=30), resected))
    assert (result.status, result.reason) == (
        "unknown",
        f"Metastasis {resected.ref} is coded as status post (ICD-10-GM certainty Z): the number "
        "of sites cannot be established",
    )
    assert result.evidence == (
        Evidence(resected.ref, BONE[1], None, day(30).isoformat(), "status post"),
    )


def test_an_unreadable_condition_may_be_another_site_only_while_it_could_be_current() -> None:
    two = (cond(LIVER, days=30), cond(LUNG, days=30))
    unread = dataclasses.replace(cond(days=20), display="Nebennierenmetastase")
    result = oligo(obs(LESIONS, integer=3), mets=(*two, unread))
    assert (result.status, result.reason) == (
        "unknown",
        f"2 metastatic sites (liver, lung), 3 lesions: {unread.ref} has no readable code "
        "(Nebennierenmetastase); it may be another metastatic site",
    )
    assert result.evidence == (
        Evidence(unread.ref, "Nebennierenmetastase", None, day(20).isoformat(), "no readable code"),
    )
    # Outside the 90-day window, or resolved, it cannot be a current site.
    older = dataclasses.replace(cond(days=200), display="Nebennierenmetastase")
    resolved = dataclasses.replace(
        cond(days=20, clinical="resolved"), display="Nebennierenmetastase"
    )
    for gone in (older, resolved):
        kept = oligo(obs(LESIONS, integer=3), mets=(*two, gone))
        assert (kept.status, kept.reason) == (
            "met",
            "2 metastatic sites (liver, lung), 3 lesions (≤ 2 sites, ≤ 5 lesions)",
        )


def test_a_diagnosis_only_status_post_is_named_by_its_text_or_the_criterion() -> None:
    resected = past(RECTAL_ADENO)
    named = dataclasses.replace(resected, display="Rektumkarzinom")
    for fact, shown in ((named, "Rektumkarzinom"), (resected, "Diagnosis")):
        result = diagnose(record(conditions=(fact,)))
        assert (result.status, result.reason) == (
            "unknown",
            f"{shown} is coded as status post (ICD-10-GM certainty Z); confirm current disease",
        )
