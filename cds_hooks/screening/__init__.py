"""Screening a patient, as one use case: data → record → screen → (hook) cards.

The CDS hook (`api.routes` via `screening.hook`), the CLI (`trial-cds screen`) and batch
screening (`prescreen`) build the record and screen it here, so none of them repeats a
step and a patient's per-criterion results are the same in all three. This module stays
light (no HTTP, no stores) because the CLI imports it on every start; `screening.hook`
adds what only the hook needs: filtering, suppression, ranking, cards and reports.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from cds_hooks.eligibility import Engine, ScreeningResult
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.facts import PatientRecord
from fhir_mappings.record import RecordError, build_record
from fhir_mappings.subjects import patient_full_urls


class UnusableRecord(Exception):
    """The data holds no usable patient (none, two, or not the one asked about); the
    message is safe to show the caller."""


def record_from(
    resources: Iterable[Mapping[str, Any]],
    *,
    unavailable: Mapping[str, str] | None = None,
    patient_id: str | None = None,
    fhir_base: str | None = None,
    patient_urls: Collection[str] = (),
    engine: Engine | None = None,
    as_of: date | None = None,
) -> PatientRecord:
    """The patient's record; with `patient_id`, it must be that patient. `fhir_base` and
    `patient_urls` (the Patient's own Bundle fullUrls) are the other ways a resource may
    name this patient as its subject. With `engine`, Observations none of its rules read
    are left out (they could not change a result, and reading them is most of the cost
    of a long chart); with `as_of` too (the screening date), so are the results older
    than every window that reads them, but for the latest of each (the record is then
    for that date or a later one)."""
    try:
        record = build_record(
            resources,
            unavailable=unavailable,
            fhir_base=fhir_base,
            patient_urls=patient_urls,
            observations_read=engine.observations_read if engine is not None else None,
            as_of=as_of,
        )
    except RecordError as exc:
        raise UnusableRecord(f"patient data unusable: {exc}") from exc
    if patient_id is not None and record.patient.ref != f"Patient/{patient_id}":
        raise UnusableRecord("the Patient obtained is not context.patientId")
    return record


def record_from_bundle(
    bundle: Mapping[str, Any], engine: Engine | None = None, as_of: date | None = None
) -> PatientRecord:
    """One patient's record from a FHIR Bundle (CLI, batch). Raises BundleError or
    UnusableRecord."""
    return record_from(
        resources_from_bundle(bundle),
        patient_urls=patient_full_urls(bundle),
        engine=engine,
        as_of=as_of,
    )


def screen(
    engine: Engine,
    record: PatientRecord,
    as_of: date,
    trial_ids: Sequence[str] | None = None,
    *,
    until_excluded: bool = False,
) -> ScreeningResult:
    return engine.screen(record, as_of, trial_ids, until_excluded=until_excluded)
