from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.bundle import BundleError, outcomes_from_bundle, resources_from_bundle
from fhir_mappings.derived import age_in_years, cockcroft_gault
from fhir_mappings.facts import LOINC, RXNORM, UCUM, Quantity
from fhir_mappings.medications import parse_medication
from fhir_mappings.observations import parse_observation
from fhir_mappings.record import RecordError, build_record


def obs(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {
            "coding": [{"system": LOINC, "code": "751-8"}, {"system": "urn:lab", "code": "N"}]
        },
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-02-27T23:30:00-05:00",
    }
    base.update(extra)
    return base


def test_observation_reads_every_coding_value_comparator_and_local_date() -> None:
    fact = parse_observation(
        obs(valueQuantity={"value": 0.3, "comparator": "<", "system": UCUM, "code": "mg/dL"})
    )
    assert fact.codes == {(LOINC, "751-8"), ("urn:lab", "N")}
    assert fact.value.quantity == Quantity(0.3, "mg/dL", "<")
    # The calendar date as written, not shifted to UTC (which would be 28 February).
    assert fact.date == date(2026, 2, 27)
    assert fact.problem is None


def test_observation_unit_text_used_when_not_ucum() -> None:
    fact = parse_observation(obs(valueQuantity={"value": 180, "unit": "K/uL"}))
    assert fact.value.quantity == Quantity(180.0, "K/uL")


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"valueQuantity": {"value": "high"}}, "not a number"),
        ({"effectiveDateTime": "2026-02"}, "not a full date"),
        ({"valueQuantity": {"value": 1, "comparator": "~"}}, "comparator"),
    ],
)
def test_unusable_observation_is_flagged_not_dropped(extra: dict[str, Any], problem: str) -> None:
    fact = parse_observation(obs(**extra))
    assert fact.problem is not None
    assert problem in fact.problem


def test_effective_period_and_data_absent_reason() -> None:
    fact = parse_observation(
        obs(
            effectiveDateTime=None,
            effectivePeriod={"start": "2026-02-10T10:00:00Z"},
            dataAbsentReason={"coding": [{"code": "error"}], "text": "Error"},
        )
    )
    assert fact.date == date(2026, 2, 10)
    assert fact.value.data_absent_reason == "Error"


def test_contained_medication_is_resolved() -> None:
    request = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "contained": [
            {
                "resourceType": "Medication",
                "id": "med",
                "code": {"coding": [{"system": RXNORM, "code": "1364430", "display": "apixaban"}]},
            }
        ],
        "medicationReference": {"reference": "#med"},
        "authoredOn": "2026-01-01",
    }
    fact = parse_medication(request, {})
    assert (RXNORM, "1364430") in fact.codes
    assert fact.date == date(2026, 1, 1)


def test_bundle_skips_search_outcomes_and_reports_them() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning"}]}
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "match"}},
            {"resource": outcome, "search": {"mode": "outcome"}},
        ],
    }
    assert [r["resourceType"] for r in resources_from_bundle(bundle)] == ["Patient"]
    assert outcomes_from_bundle(bundle) == [outcome]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a JSON object"),
        ({"resourceType": "Patient"}, "expected 'Bundle'"),
        ({"resourceType": "Bundle", "type": "bogus"}, "not supported"),
    ],
)
def test_bad_bundles(data: Any, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        resources_from_bundle(data)


def test_record_needs_exactly_one_patient_and_keeps_other_patients_out() -> None:
    with pytest.raises(RecordError, match="no Patient"):
        build_record([obs()])
    with pytest.raises(RecordError, match="2 different Patient"):
        build_record(
            [{"resourceType": "Patient", "id": "a"}, {"resourceType": "Patient", "id": "b"}]
        )
    foreign = obs(id="o2", subject={"reference": "Patient/other"})
    record = build_record(
        [
            {"resourceType": "Patient", "id": "p1"},
            obs(),
            foreign,
            obs(id="o3", status="final", effectiveDateTime="2026-02-28"),
        ]
    )
    assert [o.ref for o in record.observations] == ["Observation/o3", "Observation/o1"]
    assert record.skipped == (("Observation/o2", "belongs to Patient/other, not Patient/p1"),)


def test_age_in_completed_years_with_leap_day_birthday() -> None:
    assert age_in_years(date(1968, 5, 14), date(2026, 3, 2)) == 57
    assert age_in_years(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_in_years(date(2008, 2, 29), date(2026, 3, 1)) == 18


def test_cockcroft_gault_by_hand() -> None:
    # (140 − 60) × 70 / (72 × 1.0) = 77.78; × 0.85 for a woman = 66.11 mL/min.
    assert cockcroft_gault(60, "female", 70, 1.0) == pytest.approx(66.111, abs=1e-3)
    assert cockcroft_gault(60, "male", 70, 1.0) == pytest.approx(77.778, abs=1e-3)
    with pytest.raises(ValueError, match="sex"):
        cockcroft_gault(60, "unknown", 70, 1.0)
