"""Every FHIR status against the decision it may make.

Observation, MedicationRequest (× intent), MedicationStatement, Procedure and
DiagnosticReport statuses are each tried on a criterion that the resource would decide if it
counted; the expected outcome of every status is written out, so dropping a status from (or
adding one to) a counted set fails here.
"""

from __future__ import annotations

import dataclasses

import pytest

from fhir_mappings.facts import ObservationFact, ProcedureFact
from tests.unit.test_engine_rules import (
    ANC,
    ANC_RULE,
    ANTICOAG,
    APIXABAN,
    AS_OF,
    DIST,
    DISTANCE,
    MEASURABLE,
    RECIST,
    SIZE,
    day,
    med,
    mri,
    obs,
    record,
    run,
)
from tests.unit.test_rules_generic import EBRT, NIVOLUMAB, PRIOR_ICI, RADIOTHERAPY, rec

OBSERVATION_STATUSES = {
    "registered": False,
    "preliminary": False,
    "final": True,
    "amended": True,
    "corrected": True,
    "cancelled": False,
    "entered-in-error": False,
    "unknown": False,
}


@pytest.mark.parametrize(("status", "counts"), OBSERVATION_STATUSES.items())
def test_observation_status_decides_whether_a_lab_counts(status: str, counts: bool) -> None:
    result = run(ANC_RULE, record(obs(ANC, q=2.0, unit="10*9/L", status=status)))
    if counts:
        assert result.status == "met"
        assert result.evidence[0].date == day(1).isoformat()
    else:
        assert result.status == "unknown"
        article = "an" if status[0] in "aeiou" else "a"
        assert f"{article} {status} result on {day(1).isoformat()}" in result.reason
        assert "does not count" in result.reason


@pytest.mark.parametrize(("status", "counts"), OBSERVATION_STATUSES.items())
def test_a_not_counted_newer_result_never_hides_an_older_counted_one(
    status: str, counts: bool
) -> None:
    newer = obs(ANC, q=0.9, unit="10*9/L", status=status, days=1)
    older = obs(ANC, q=2.0, unit="10*9/L", days=5)
    result = run(ANC_RULE, record(newer, older))
    assert result.status == ("not_met" if counts else "met")
    assert result.evidence[0].reference == (newer if counts else older).ref


def test_a_status_less_observation_does_not_count() -> None:
    fact = dataclasses.replace(obs(ANC, q=2.0, unit="10*9/L"), status=None)
    result = run(ANC_RULE, record(fact))
    assert result.status == "unknown"
    assert "a status-less result" in result.reason


@pytest.mark.parametrize(("status", "counts"), OBSERVATION_STATUSES.items())
def test_observation_status_of_a_recist_flag(status: str, counts: bool) -> None:
    result = run(MEASURABLE, record(obs(RECIST, boolean=True, status=status)), lookback=90)
    assert result.status == ("met" if counts else "unknown")


@pytest.mark.parametrize(("status", "counts"), OBSERVATION_STATUSES.items())
def test_observation_status_of_a_lesion_size(status: str, counts: bool) -> None:
    result = run(MEASURABLE, record(obs(SIZE, q=15, unit="mm", status=status)), lookback=90)
    assert result.status == ("met" if counts else "unknown")


# MedicationRequest: (status, intent) → does the order say the drug is taken now?
REQUEST_STATUSES = (
    "active",
    "on-hold",
    "cancelled",
    "completed",
    "entered-in-error",
    "stopped",
    "draft",
    "unknown",
)
INTENTS = (
    "proposal",
    "plan",
    "order",
    "original-order",
    "reflex-order",
    "filler-order",
    "instance-order",
    "option",
    None,
)
ACTIVE_REQUEST = {"active", "on-hold"}
NOT_AN_ORDER = {"proposal", "plan", "option"}


@pytest.mark.parametrize("status", REQUEST_STATUSES)
@pytest.mark.parametrize("intent", INTENTS)
def test_medication_request_status_and_intent_matrix(status: str, intent: str | None) -> None:
    order = med(APIXABAN, status=status, intent=intent, display="apixaban 5 mg")
    result = run(ANTICOAG, record(medications=(order,)))
    if status in ACTIVE_REQUEST and intent not in NOT_AN_ORDER:
        assert result.status == "unknown"
        assert result.reason.startswith("Active apixaban 5 mg:")
        assert result.evidence[0].reference == order.ref
    elif status == "unknown" and intent not in NOT_AN_ORDER:
        # An order whose status says nothing may be running: never "none active".
        assert result.status == "unknown"
        assert result.reason.endswith(
            ": apixaban 5 mg (MedicationRequest, status unknown): whether it is taken now is "
            "not recorded"
        )
        assert result.evidence[0].reference == order.ref
    else:
        assert result.status == "met"
        assert result.reason == (
            "No active anticoagulant or antiplatelet among 0 active medications"
        )


STATEMENT_STATUSES = {
    "active": True,
    "intended": True,
    "on-hold": True,
    "completed": False,
    "stopped": False,
    "entered-in-error": False,
    "not-taken": False,
}


@pytest.mark.parametrize(("status", "active"), STATEMENT_STATUSES.items())
def test_medication_statement_status_matrix(status: str, active: bool) -> None:
    statement = med(APIXABAN, resource_type="MedicationStatement", status=status)
    result = run(ANTICOAG, record(medications=(statement,)))
    assert result.status == ("unknown" if active else "met")


@pytest.mark.parametrize("resource_type", ["MedicationStatement", "MedicationRequest"])
@pytest.mark.parametrize("status", ["unknown", None])
def test_a_record_whose_status_says_nothing_keeps_the_rules_open(
    resource_type: str, status: str | None
) -> None:
    active = dataclasses.replace(med(APIXABAN, resource_type=resource_type), status=status)
    result = run(ANTICOAG, record(medications=(active,)))
    assert result.status == "unknown"
    assert f"({resource_type}, status {status or 'not given'}): whether it is taken now" in (
        result.reason
    )
    given = dataclasses.replace(med(NIVOLUMAB, resource_type=resource_type), status=status)
    history = run(PRIOR_ICI, rec(medications=(given,)), lookback=36500)
    assert history.status == "unknown"
    assert history.reason.endswith(
        f"({resource_type}, status {status or 'not given'}): whether it was given is not recorded"
    )
    # Outside the history's window it is old news either way.
    assert run(PRIOR_ICI, rec(medications=(given,)), lookback=10).status == "not_met"


def test_a_record_whose_status_says_nothing_is_named_with_the_rule() -> None:
    order = med(APIXABAN, status="unknown", display="apixaban 5 mg")
    result = run(ANTICOAG, record(medications=(order,)))
    assert (result.status, result.reason) == (
        "unknown",
        "anticoagulant or antiplatelet: apixaban 5 mg (MedicationRequest, status unknown): "
        "whether it is taken now is not recorded",
    )
    assert [e.reference for e in result.evidence] == [order.ref]


def test_active_only_history_is_open_for_a_record_whose_status_says_nothing() -> None:
    # Dated 30 days ago, outside a 10-day window: whether a drug is taken now does not
    # depend on when the record was written, so its silent status keeps the rule open.
    given = med(NIVOLUMAB, status="unknown", display="nivolumab")
    rule = {**PRIOR_ICI, "label": "Current checkpoint inhibitor", "active_only": True}
    result = run(rule, rec(medications=(given,)), lookback=10)
    assert (result.status, result.reason) == (
        "unknown",
        "Current checkpoint inhibitor: nivolumab (MedicationRequest, status unknown): "
        "whether it is taken now is not recorded",
    )
    assert [e.reference for e in result.evidence] == [given.ref]


@pytest.mark.parametrize("status", sorted(ACTIVE_REQUEST))
def test_an_active_order_with_no_readable_code_is_never_no_anticoagulant(status: str) -> None:
    order = dataclasses.replace(med(APIXABAN, status=status), codes=frozenset())
    result = run(ANTICOAG, record(medications=(order,)))
    assert result.status == "unknown"
    assert result.reason == f"{order.ref} has no readable medication code"
    assert result.evidence[0].reference == order.ref


def test_active_medications_are_counted_in_the_clear() -> None:
    other = (("http://www.nlm.nih.gov/research/umls/rxnorm", "197361"),)  # amlodipine
    one = record(medications=(med(other[0]),))
    assert run(ANTICOAG, one).reason == (
        "No active anticoagulant or antiplatelet among 1 active medication"
    )
    two = record(medications=(med(other[0]), med(other[0]), med(other[0], status="stopped")))
    result = run(ANTICOAG, two)
    assert result.reason == "No active anticoagulant or antiplatelet among 2 active medications"
    assert result.evidence[0].value == 2
    assert result.evidence[0].date == AS_OF.isoformat()


GIVEN_REQUEST = {"active", "on-hold", "completed", "stopped"}


@pytest.mark.parametrize("status", REQUEST_STATUSES)
@pytest.mark.parametrize("intent", ["order", "plan", "proposal", "option", "instance-order"])
def test_medication_history_request_matrix(status: str, intent: str) -> None:
    order = med(NIVOLUMAB, status=status, intent=intent)
    result = run(PRIOR_ICI, rec(medications=(order,)), lookback=36500)
    given = status in GIVEN_REQUEST and intent not in NOT_AN_ORDER
    unclear = status == "unknown" and intent not in NOT_AN_ORDER
    assert result.status == ("met" if given else "unknown" if unclear else "not_met")


GIVEN_STATEMENT = {"active", "on-hold", "completed", "stopped", "intended"}


@pytest.mark.parametrize("status", sorted(STATEMENT_STATUSES))
def test_medication_history_statement_matrix(status: str) -> None:
    statement = med(NIVOLUMAB, resource_type="MedicationStatement", status=status)
    result = run(PRIOR_ICI, rec(medications=(statement,)), lookback=36500)
    assert result.status == ("met" if status in GIVEN_STATEMENT else "not_met")


def test_a_statement_of_unknown_status_keeps_the_history_open() -> None:
    statement = med(NIVOLUMAB, resource_type="MedicationStatement", status="unknown")
    assert run(PRIOR_ICI, rec(medications=(statement,)), lookback=36500).status == "unknown"


PROCEDURE_STATUSES = {
    "preparation": False,
    "in-progress": True,
    "not-done": False,
    "on-hold": False,
    "stopped": True,
    "completed": True,
    "entered-in-error": False,
}


@pytest.mark.parametrize(("status", "done"), PROCEDURE_STATUSES.items())
def test_procedure_status_matrix(status: str, done: bool) -> None:
    procedure = ProcedureFact("Procedure/x", frozenset({EBRT}), status, day(300))
    result = run(RADIOTHERAPY, rec(procedures=(procedure,)), lookback=36500)
    assert result.status == ("met" if done else "not_met")
    if not done:
        assert result.reason == "No prior radiotherapy among 0 procedures reviewed"


REPORT_STATUSES = {
    "registered": False,
    "partial": False,
    "preliminary": False,
    "final": True,
    "amended": True,
    "corrected": True,
    "appended": True,
    "cancelled": False,
    "entered-in-error": False,
    "unknown": False,
}


@pytest.mark.parametrize(("status", "counts"), REPORT_STATUSES.items())
def test_report_status_matrix(status: str, counts: bool) -> None:
    report = mri("Tumour 6 cm from the anal verge.", status=status)
    result = run(DISTANCE, record(reports=(report,)), lookback=90)
    assert result.status == ("met" if counts else "unknown")
    if counts:
        assert result.evidence[0].reference == report.ref


def test_an_observation_wins_over_an_older_report() -> None:
    observation: ObservationFact = obs(DIST, q=12, unit="cm", days=5)
    report = mri("Tumour 6 cm from the anal verge.", days=20)
    result = run(DISTANCE, record(observation, reports=(report,)), lookback=90)
    assert result.status == "not_met"


@pytest.mark.parametrize("status", ["unknown", None])
def test_a_procedure_whose_status_says_nothing_keeps_the_history_open(status: str | None) -> None:
    procedure = ProcedureFact("Procedure/x", frozenset({EBRT}), status, day(300))
    result = run(RADIOTHERAPY, rec(procedures=(procedure,)), lookback=36500)
    assert (result.status, result.reason) == (
        "unknown",
        f"Prior radiotherapy: Procedure/x (status {status or 'not given'}): whether it was done "
        "is not recorded",
    )
    assert [e.reference for e in result.evidence] == ["Procedure/x"]
    assert run(RADIOTHERAPY, rec(procedures=(procedure,)), lookback=100).status == "not_met"


def test_an_unreadable_record_of_unknown_status_keeps_the_rules_open() -> None:
    uncoded = dataclasses.replace(
        med(APIXABAN, resource_type="MedicationStatement", status="unknown"), codes=frozenset()
    )
    active = run(ANTICOAG, record(medications=(uncoded,)))
    assert (active.status, active.reason) == (
        "unknown",
        f"{uncoded.ref} has no readable medication code",
    )
    history = run(PRIOR_ICI, rec(medications=(uncoded,)), lookback=36500)
    assert (history.status, history.reason) == (
        "unknown",
        f"Prior immune checkpoint inhibitor: {uncoded.ref} has no readable medication code",
    )
