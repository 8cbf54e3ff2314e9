"""Drugs recorded only as handed over by a pharmacy (MedicationDispense: oral drugs often
are) count as given: prior therapy from a completed or stopped dispense. A dispense never
says the patient still takes the drug, but one whose days' supply reaches the screening
day (90 days when none is given) may still be being taken: "no active anticoagulant" and
active-only history are then unknown, never cleared."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.prefetch import prefetch_templates
from fhir_mappings.facts import RXNORM
from fhir_mappings.medications import parse_medication
from fhir_mappings.record import build_record
from tests.unit.test_engine_rules import run

ENGINE = Engine.default()
SCRT = "scrt-capeox-serplulimab-rectal"
AS_OF = date(2026, 3, 2)
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1960-01-01"}
APIXABAN = "1364430"
PEMBROLIZUMAB = "1547545"


def dispensed(code: str, status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationDispense",
        "id": "md1",
        "status": status,
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "whenHandedOver": "2026-02-10T10:00:00Z",
        **extra,
    }


def status_of(criterion: str, *resources: dict[str, Any]) -> tuple[str, str]:
    record = build_record([PATIENT, *resources])
    result = ENGINE.screen(record, AS_OF, [SCRT]).trials[0].criterion(criterion)
    return result.status, result.reason


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("completed", "met"),
        ("stopped", "met"),
        ("in-progress", "not_met"),  # being prepared: not handed over yet
        ("preparation", "not_met"),
        ("on-hold", "not_met"),
        ("cancelled", "not_met"),
        ("declined", "not_met"),
        ("entered-in-error", "not_met"),
        ("unknown", "unknown"),  # may have been handed over
    ],
)
def test_a_checkpoint_inhibitor_handed_over_is_prior_immunotherapy(
    status: str, expected: str
) -> None:
    outcome, reason = status_of("prior_immunotherapy", dispensed(PEMBROLIZUMAB, status))
    assert outcome == expected
    if expected == "met":
        assert reason == (
            f"Prior immune checkpoint inhibitor: {PEMBROLIZUMAB} (MedicationDispense {status} "
            "on 2026-02-10)"
        )


@pytest.mark.parametrize(
    ("handed_over", "supply", "expected"),
    [
        ("2026-02-10", None, "unknown"),  # 20 days ago, no supply given: 90 days assumed
        ("2025-12-02", None, "unknown"),  # exactly 90 days ago
        ("2025-12-01", None, "met"),  # 91 days ago
        ("2026-02-10", {"value": 30, "unit": "days", "code": "d"}, "unknown"),
        ("2026-01-31", {"value": 30, "unit": "d"}, "unknown"),  # supply ends on the day
        ("2026-01-30", {"value": 30, "unit": "d"}, "met"),  # ended the day before
        ("2026-01-30", {"value": 5, "unit": "wk"}, "unknown"),
        ("2026-01-30", {"value": 30, "unit": "tablets"}, "unknown"),  # not a duration
        ("2026-02-10", {"value": 0, "unit": "d"}, "unknown"),  # no supply: 90 days assumed
        ("2026-03-02", None, "unknown"),  # handed over on the screening day
        ("2026-03-02", {"value": 1, "unit": "d"}, "unknown"),
        ("2026-03-05", None, "met"),  # after the screening day: not yet supplied
    ],
)
def test_an_anticoagulant_dispensed_may_still_be_taken(
    handed_over: str, supply: dict[str, Any] | None, expected: str
) -> None:
    extra: dict[str, Any] = {"whenHandedOver": handed_over}
    if supply is not None:
        extra["daysSupply"] = supply
    outcome, reason = status_of("anticoagulants", dispensed(APIXABAN, **extra))
    assert outcome == expected
    if expected == "unknown":
        assert f"{APIXABAN} dispensed on {handed_over} (" in reason
        assert "whether it is still taken is not recorded: " in reason


WHY = "must be stopped 7–14 days before surgery (bridging with low-molecular-weight heparin)"


def test_a_dispense_whose_supply_may_last_is_named_with_its_supply() -> None:
    supply = {"value": 30, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}
    record = build_record([PATIENT, dispensed(APIXABAN, daysSupply=supply)])
    result = ENGINE.screen(record, AS_OF, [SCRT]).trials[0].criterion("anticoagulants")
    assert (result.status, result.reason) == (
        "unknown",
        f"{APIXABAN} dispensed on 2026-02-10 (30 days' supply); whether it is still taken is "
        f"not recorded: {WHY}",
    )
    assert [(e.reference, e.date, e.note) for e in result.evidence] == [
        ("MedicationDispense/md1", "2026-02-10", "completed")
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # Handed over (wholly or in part): the supply may still be being taken.
        ("completed", "supplied"),
        ("stopped", "supplied"),
        # Not handed over (not yet, or not at all): nothing of it the patient can be taking.
        ("in-progress", "none"),
        ("preparation", "none"),
        ("on-hold", "none"),  # active for an order or a statement, never for a dispense
        ("cancelled", "none"),
        ("declined", "none"),
        ("entered-in-error", "none"),
        ("unknown", "unclear"),  # may have been handed over
    ],
)
def test_a_dispense_is_never_an_active_drug_whatever_its_status(status: str, expected: str) -> None:
    reason = {
        "supplied": f"{APIXABAN} dispensed on 2026-02-10 (no usable days' supply: 90 days "
        f"assumed); whether it is still taken is not recorded: {WHY}",
        "none": "No active anticoagulant or antiplatelet among 0 active medications",
        "unclear": f"anticoagulant or antiplatelet: {APIXABAN} (MedicationDispense, status "
        "unknown): whether it is taken now is not recorded",
    }[expected]
    assert status_of("anticoagulants", dispensed(APIXABAN, status)) == (
        "met" if expected == "none" else "unknown",
        reason,
    )


def test_a_running_order_beside_a_dispense_says_active() -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": APIXABAN}]},
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2026-01-10",
    }
    outcome, reason = status_of("anticoagulants", dispensed(APIXABAN), order)
    assert outcome == "unknown"
    assert reason.startswith(f"Active {APIXABAN}: ")


def test_active_only_history_is_unknown_for_a_supply_that_may_last() -> None:
    rule = {
        "type": "medication_history",
        "label": "Current checkpoint inhibitor",
        "medication_code_sets": ["immune_checkpoint_inhibitors"],
        "active_only": True,
        "absence": "not_met",
    }
    recent = run(rule, build_record([PATIENT, dispensed(PEMBROLIZUMAB)]), lookback=365)
    assert (recent.status, recent.reason) == (
        "unknown",
        f"Current checkpoint inhibitor: {PEMBROLIZUMAB} dispensed on 2026-02-10 (no usable "
        "days' supply: 90 days assumed); whether it is still taken is not recorded",
    )
    assert [e.reference for e in recent.evidence] == ["MedicationDispense/md1"]
    old = dispensed(PEMBROLIZUMAB, whenHandedOver="2025-06-01")
    assert run(rule, build_record([PATIENT, old]), lookback=365).status == "not_met"


@pytest.mark.parametrize(
    ("supply", "days"),
    [
        ({"value": 30, "unit": "d"}, 30),
        ({"value": 30, "code": "d", "unit": "days"}, 30),
        # The UCUM code decides; the unit is display text, in any language.
        ({"value": 30, "code": "d", "unit": "Tage"}, 30),
        ({"value": 30, "code": "d"}, 30),
        ({"value": 0.5, "unit": "d"}, 1),  # rounded up: a part of a day is a day taken
        ({"value": 2.5, "unit": "wk"}, 18),
        ({"value": 14, "unit": " Days "}, 14),
        ({"value": 30, "unit": "tablets"}, None),
        ({"value": -1, "unit": "d"}, None),
        # Handed over but lasting no time at all is not a supply: a placeholder, as absent.
        ({"value": 0, "unit": "d"}, None),
        ({"value": "30", "unit": "d"}, None),
        ({"value": float("inf"), "unit": "d"}, None),
        ({"value": True, "unit": "d"}, None),
        ({"unit": "d"}, None),
        ({"value": 30}, None),
        (None, None),
    ],
)
def test_the_days_supply_is_read_only_as_a_duration(
    supply: dict[str, Any] | None, days: int | None
) -> None:
    resource = dispensed(APIXABAN, daysSupply=supply)
    assert parse_medication(resource, {}).supply_days == days


def test_the_dispense_date_is_when_it_was_handed_over_else_prepared() -> None:
    prepared = dispensed(APIXABAN, whenHandedOver=None, whenPrepared="2026-02-08")
    assert parse_medication(prepared, {}).date == date(2026, 2, 8)
    both = dispensed(APIXABAN, whenPrepared="2026-02-08")
    assert parse_medication(both, {}).date == date(2026, 2, 10)


def test_the_hook_asks_for_dispenses_of_every_status() -> None:
    templates = prefetch_templates(list(ENGINE.trials.values()), ENGINE.terminology)
    assert templates["medication_dispenses"] == "MedicationDispense?patient={{context.patientId}}"


@pytest.mark.parametrize("supply", [{"value": 0, "unit": "d"}, {"value": 30, "unit": "tablets"}])
def test_a_days_supply_that_cannot_be_used_is_named_as_such(supply: dict[str, Any]) -> None:
    status, reason = status_of("anticoagulants", dispensed(APIXABAN, daysSupply=supply))
    assert status == "unknown"
    assert "(no usable days' supply: 90 days assumed)" in reason
