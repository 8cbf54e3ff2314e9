"""Drugs charted only as given (MedicationAdministration: an infusion in the MAR, a dose
in clinic) count like orders and statements: prior therapy from what was given, an active
drug from an administration in progress; one not done, entered in error or of unknown
status does not count."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.prefetch import prefetch_templates
from fhir_mappings.facts import RXNORM
from fhir_mappings.record import build_record

ENGINE = Engine.default()
SCRT = "scrt-capeox-serplulimab-rectal"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1960-01-01"}


def given(code: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": "ma1",
        "status": status,
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-06-01T10:00:00Z",
        **extra,
    }


def status_of(criterion: str, *resources: dict[str, Any]) -> tuple[str, str]:
    record = build_record([PATIENT, *resources])
    result = ENGINE.screen(record, date(2026, 3, 2), [SCRT]).trials[0].criterion(criterion)
    return result.status, result.reason


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("completed", "met"),
        ("stopped", "met"),
        ("in-progress", "met"),
        ("on-hold", "met"),
        ("not-done", "not_met"),
        ("entered-in-error", "not_met"),
        ("unknown", "unknown"),  # may have been given
    ],
)
def test_a_checkpoint_inhibitor_given_is_prior_immunotherapy(status: str, expected: str) -> None:
    outcome, reason = status_of("prior_immunotherapy", given("1547545", status))
    assert outcome == expected
    if expected == "met":
        assert reason == (
            f"Prior immune checkpoint inhibitor: 1547545 (MedicationAdministration {status} "
            "on 2025-06-01)"
        )


def test_an_anticoagulant_running_now_is_active_and_one_given_before_is_not() -> None:
    heparin = given("1364430", "in-progress")  # apixaban's ingredient code, charted as given
    assert status_of("anticoagulants", heparin)[0] == "unknown"
    assert status_of("anticoagulants", given("1364430", "completed"))[0] == "met"


def test_the_hook_asks_for_administrations_of_every_status() -> None:
    templates = prefetch_templates(list(ENGINE.trials.values()), ENGINE.terminology)
    assert templates["medication_administrations"] == (
        "MedicationAdministration?patient={{context.patientId}}"
    )
