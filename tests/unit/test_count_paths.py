"""The distinct-count rule (metastatic sites) against records that can neither be counted
nor ignored: a status-post site, and a condition whose code no set can read. Each is checked
whole (status, reason, evidence), and an unreadable record that could not be the one counted
(outside the window, or no longer active) leaves the count to decide."""

from __future__ import annotations

import dataclasses

from cds_hooks.eligibility.results import Evidence
from tests.unit.test_engine_rules import cond, day
from tests.unit.test_rules_generic import LIVER, LUNG, SITES, malignancy, rec, run
from tests.unit.test_status_post import past


def test_a_status_post_site_names_itself_and_stops_the_count() -> None:
    resected = past(LUNG)
    result = run(SITES, rec(conditions=(cond(LIVER, days=10), resected)))
    assert (result.status, result.reason) == (
        "unknown",
        f"Metastatic sites: {resected.ref} is coded as status post (ICD-10-GM certainty Z): "
        "the count cannot be established",
    )
    assert result.evidence == (
        Evidence(resected.ref, LUNG[1], None, day(60).isoformat(), "status post"),
    )


def test_an_unreadable_active_condition_inside_the_window_may_be_one_more_site() -> None:
    liver = cond(LIVER, days=10)
    unread = dataclasses.replace(cond(days=10), display="Leber-Metastase")
    result = run(SITES, rec(conditions=(liver, unread)))
    assert (result.status, result.reason) == (
        "unknown",
        f"Metastatic sites: {unread.ref} has no readable code (Leber-Metastase); it may be one "
        "more to count",
    )
    assert result.evidence == (
        Evidence(unread.ref, "Leber-Metastase", None, day(10).isoformat(), "no readable code"),
    )


def test_an_unreadable_condition_that_cannot_be_a_current_site_leaves_the_count() -> None:
    liver = cond(LIVER, days=10)
    outside = dataclasses.replace(cond(days=4000), display="Leber-Metastase")
    resolved = dataclasses.replace(cond(days=10, clinical="resolved"), display="Lungenmetastase")
    for unread in (outside, resolved):
        result = run(SITES, rec(conditions=(liver, unread)))
        assert (result.status, result.reason) == ("met", "Metastatic sites: 1 (liver) ≤ 2")
        assert [e.reference for e in result.evidence] == [liver.ref]


def test_an_undated_unreadable_condition_could_be_inside_any_window() -> None:
    undated = dataclasses.replace(cond(days=None), display="Zweitkarzinom")
    sites = run(SITES, rec(conditions=(cond(LIVER, days=10), undated)))
    assert (sites.status, sites.reason) == (
        "unknown",
        f"Metastatic sites: {undated.ref} has no readable code (Zweitkarzinom); it may be one "
        "more to count",
    )
    assert sites.evidence == (
        Evidence(undated.ref, "Zweitkarzinom", None, None, "no readable code"),
    )
    other = run(malignancy(), rec(conditions=(undated,)), lookback=1826)
    assert (other.status, other.reason) == (
        "unknown",
        f"Other malignancy: {undated.ref} has no readable code (Zweitkarzinom); it may be the "
        "condition looked for",
    )
    assert other.evidence == sites.evidence
