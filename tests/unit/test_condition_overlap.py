"""A condition rule over code sets that overlap (rectal cancer is also a malignancy): a
record matched by two sets is weighed once, and the records after it in the second set are
still weighed. The status-post answer is checked whole."""

from __future__ import annotations

import dataclasses
from typing import Any

from cds_hooks.eligibility.results import Evidence
from tests.unit.test_engine_rules import cond, day
from tests.unit.test_rules_generic import PROSTATE, RECTAL, rec, run
from tests.unit.test_status_post import past

CANCER: dict[str, Any] = {
    "type": "condition",
    "label": "Cancer",
    "code_sets": ["rectal_cancer_dx", "malignancy_dx"],
    "active_only": False,
    "absence": "not_met",
}
ACTIVE_CANCER = {**CANCER, "active_only": True}


def test_a_record_in_both_sets_does_not_hide_the_next_one_of_the_second_set() -> None:
    # Newest first: the suspected rectal cancer (in both sets) comes before the confirmed
    # prostate cancer (a malignancy only), which decides.
    suspected = dataclasses.replace(
        cond(RECTAL, days=5, verification="provisional"), suspected=True
    )
    prostate = cond(PROSTATE, days=30)
    result = run(CANCER, rec(conditions=(suspected, prostate)))
    assert (result.status, result.reason) == ("met", f"Cancer: condition on {day(30)}, active")
    assert result.evidence == (Evidence(prostate.ref, PROSTATE[1], None, day(30).isoformat()),)


def test_a_record_without_clinical_status_in_both_sets_is_cited_once() -> None:
    unclear = cond(RECTAL, days=5, clinical=None)
    result = run(ACTIVE_CANCER, rec(conditions=(unclear,)))
    assert (result.status, result.reason) == (
        "unknown",
        f"Cancer: {unclear.ref} on record without a clinical status (active or not?)",
    )
    assert result.evidence == (Evidence(unclear.ref, RECTAL[1], None, day(5).isoformat()),)


def test_a_status_post_record_in_both_sets_is_cited_once_with_the_whole_reason() -> None:
    resected = past(RECTAL)
    result = run(ACTIVE_CANCER, rec(conditions=(resected,)))
    assert (result.status, result.reason) == (
        "unknown",
        f"Cancer: {resected.ref} is coded as status post (ICD-10-GM certainty Z): whether it "
        "is still active is not recorded",
    )
    assert result.evidence == (
        Evidence(resected.ref, RECTAL[1], None, day(60).isoformat(), "status post"),
    )
