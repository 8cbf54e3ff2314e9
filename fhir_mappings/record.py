"""Resources of one patient → PatientRecord."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from fhir_mappings._read import reference_id
from fhir_mappings.conditions import parse_condition
from fhir_mappings.facts import (
    ConditionFact,
    DiagnosticReportFact,
    MedicationFact,
    ObservationFact,
    PatientRecord,
    ProcedureFact,
)
from fhir_mappings.medications import MEDICATION_TYPES, parse_medication
from fhir_mappings.observations import parse_observation
from fhir_mappings.patient import parse_patient
from fhir_mappings.procedures import parse_procedure
from fhir_mappings.reports import parse_report


class RecordError(ValueError):
    """The resources cannot form one patient's record; the message is user-facing."""


def _subject(resource: Mapping[str, Any]) -> str | None:
    return reference_id(resource.get("subject") or resource.get("patient"))


def _newest_first(facts: list[Any]) -> tuple[Any, ...]:
    return tuple(sorted(facts, key=lambda f: f.date or date.min, reverse=True))


def build_record(
    resources: Iterable[Mapping[str, Any]], *, unavailable: Mapping[str, str] | None = None
) -> PatientRecord:
    resources = [r for r in resources if isinstance(r, Mapping)]
    patients = {str(r.get("id")): r for r in resources if r.get("resourceType") == "Patient"}
    if not patients:
        raise RecordError("no Patient resource")
    if len(patients) > 1:
        raise RecordError(f"{len(patients)} different Patient resources; expected one patient")
    patient_resource = next(iter(patients.values()))
    patient = parse_patient(patient_resource)
    medications_by_ref = {
        f"Medication/{r.get('id')}": r for r in resources if r.get("resourceType") == "Medication"
    }
    observations: list[ObservationFact] = []
    conditions: list[ConditionFact] = []
    procedures: list[ProcedureFact] = []
    medications: list[MedicationFact] = []
    reports: list[DiagnosticReportFact] = []
    skipped: list[tuple[str, str]] = []
    parsers: dict[str, tuple[Callable[[Mapping[str, Any]], Any], list[Any]]] = {
        "Observation": (parse_observation, observations),
        "Condition": (parse_condition, conditions),
        "Procedure": (parse_procedure, procedures),
        "DiagnosticReport": (parse_report, reports),
    }
    for resource in resources:
        resource_type = resource.get("resourceType")
        if resource_type not in parsers and resource_type not in MEDICATION_TYPES:
            continue
        ref = f"{resource_type}/{resource.get('id')}"
        if not isinstance(resource.get("id"), str):
            skipped.append((ref, "resource has no id"))
            continue
        subject = _subject(resource)
        if subject is not None and subject != patient.ref and not subject.startswith("urn:"):
            # Never mix another patient's data into this record.
            skipped.append((ref, f"belongs to {subject}, not {patient.ref}"))
            continue
        try:
            if resource_type in MEDICATION_TYPES:
                medications.append(parse_medication(resource, medications_by_ref))
            else:
                parse, bucket = parsers[str(resource_type)]
                bucket.append(parse(resource))
        except Exception as exc:  # a parser bug must not drop the patient
            skipped.append((ref, f"unreadable ({type(exc).__name__})"))
    return PatientRecord(
        patient=patient,
        observations=_newest_first(observations),
        conditions=_newest_first(conditions),
        procedures=_newest_first(procedures),
        medications=_newest_first(medications),
        reports=_newest_first(reports),
        unavailable=dict(unavailable or {}),
        skipped=tuple(skipped),
    )
