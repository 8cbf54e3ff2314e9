"""Resources of one patient → PatientRecord.

Nothing is dropped without trace: a resource that is present but unusable (no id, another
patient's, two conflicting versions, a parser failure) is listed in `PatientRecord.skipped`
with the reason; resource types eligibility does not read (Encounter, OperationOutcome ...)
are ignored, except Medication, which medication orders may reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar

from fhir_mappings._read import as_dict, modifier_extensions
from fhir_mappings.allergies import parse_allergy
from fhir_mappings.conditions import parse_condition
from fhir_mappings.facts import (
    AllergyFact,
    Code,
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
from fhir_mappings.reading import refine_observation, refine_report
from fhir_mappings.reports import parse_report
from fhir_mappings.selection import ObservationSelection
from fhir_mappings.subjects import SubjectMatcher
from fhir_mappings.terminology import Terminology, load_terminology

Resource = Mapping[str, Any]
_Fact = TypeVar(
    "_Fact",
    ObservationFact,
    ConditionFact,
    ProcedureFact,
    MedicationFact,
    DiagnosticReportFact,
    AllergyFact,
)

_PARSERS: dict[str, Callable[[Resource], Any]] = {
    "Observation": parse_observation,
    "Condition": parse_condition,
    "Procedure": parse_procedure,
    "DiagnosticReport": parse_report,
    "AllergyIntolerance": parse_allergy,
}
# The patient's resource types read into facts (besides Patient itself).
FACT_TYPES = frozenset(_PARSERS) | MEDICATION_TYPES
# Types whose duplicates matter: the ones read into facts, and Medication (referenced).
_KEPT_TYPES = FACT_TYPES | {"Patient", "Medication"}


class RecordError(ValueError):
    """The resources cannot form one patient's record; the message is user-facing and
    carries no patient data (it may be logged)."""


def _id(resource: Resource) -> str | None:
    rid = resource.get("id")
    return rid if type(rid) is str and rid else None


def _last_updated(resource: Resource) -> datetime | None:
    value = as_dict(resource.get("meta")).get("lastUpdated")
    if type(value) is not str:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Only instants with an offset compare safely across servers.
    return parsed if parsed.tzinfo is not None else None


def _version(resource: Resource) -> int | None:
    value = as_dict(resource.get("meta")).get("versionId")
    return int(value) if type(value) is str and value.isdecimal() else None


def _newer(a: Resource, b: Resource) -> Resource | None:
    """The more recent of two versions of one resource, or None when it cannot be told."""
    a_time, b_time = _last_updated(a), _last_updated(b)
    if a_time is not None and b_time is not None and a_time != b_time:
        return a if a_time > b_time else b
    a_version, b_version = _version(a), _version(b)
    if a_version is not None and b_version is not None and a_version != b_version:
        return a if a_version > b_version else b
    return None


def _kept_type(resource_type: Any) -> bool:
    # JSON from outside may put a list or an object here: not hashable, and not a type.
    return type(resource_type) is str and resource_type in _KEPT_TYPES


_TWICE = "appears twice with different content; cannot tell which is current"


def _deduplicate(
    resources: list[Resource],
    skipped: list[tuple[str, str]],
    versions: dict[str, list[Resource]],
) -> list[Resource]:
    """One resource per Type/id. Paged searches and merged prefetch keys can repeat a
    resource; identical copies collapse silently (no information is lost). Different
    versions keep the newer (meta.lastUpdated, else a numeric meta.versionId); when that
    cannot be told both are skipped, since either could be the stale one."""
    seen_once: set[tuple[object, str]] = set()
    for resource in resources:
        rid, resource_type = _id(resource), resource.get("resourceType")
        if rid is not None and _kept_type(resource_type):
            if (resource_type, rid) in seen_once:
                break
            seen_once.add((resource_type, rid))
    else:
        return resources  # the usual case: nothing appears twice
    kept: dict[str, Resource] = {}
    conflicted: set[str] = set()
    for resource in resources:
        rid = _id(resource)
        resource_type = resource.get("resourceType")
        if rid is None or not _kept_type(resource_type):
            continue
        ref = f"{resource_type}/{rid}"
        earlier = kept.get(ref)
        if earlier is None:
            kept[ref] = resource
        elif earlier != resource:
            newer = _newer(earlier, resource)
            if newer is None:
                conflicted.add(ref)
            else:
                kept[ref] = newer
    result = []
    seen: set[str] = set()
    for resource in resources:
        rid = _id(resource)
        resource_type = resource.get("resourceType")
        if rid is None or not _kept_type(resource_type):
            result.append(resource)  # judged later (no id, or a type we do not read)
            continue
        ref = f"{resource_type}/{rid}"
        if ref in seen:
            continue
        seen.add(ref)
        if ref in conflicted:
            if resource_type == "Patient":
                raise RecordError(
                    "the Patient resource appears twice with different content "
                    "and no way to tell which is current"
                )
            skipped.append((ref, _TWICE))
            versions.setdefault(ref, []).extend(
                r for r in resources if _id(r) == rid and r.get("resourceType") == resource_type
            )
            continue
        result.append(kept[ref])
    return result


def _newest_first(facts: list[_Fact]) -> tuple[_Fact, ...]:
    # Stable: same-day facts keep their input order unless both carry a time of day, which
    # then orders them. Undated facts go last, so the engine can stop at the first match
    # when it wants the most recent result.
    return tuple(sorted(facts, key=_order_key, reverse=True))


def _order_key(fact: Any) -> tuple[date, float]:
    when = getattr(fact, "time", None)
    # Seconds after midnight as written: the calendar date is the local one (see dates.py),
    # so the wall-clock time of day orders results of one day without any zone shift.
    seconds = -1.0 if when is None else when.hour * 3600 + when.minute * 60 + when.second
    return (fact.date or date.min, seconds)


class _Older(NamedTuple):
    """An Observation older than every window that reads it, not yet built."""

    position: int  # in the input, which orders results of one day
    date: date
    codes: tuple[Code, ...]  # its read codes
    resource: Resource


def _older_kept(
    older: list[_Older], build: Callable[[Resource], ObservationFact | None]
) -> list[tuple[int, ObservationFact]]:
    """Of the Observations older than every window that reads them, the ones a search may
    still name, built: per read code, the newest back to the first that `decides` (the
    one a search names as "the latest, too old"), with all of that day (results of one day
    are ordered by their time of day, known only once built)."""
    by_code: dict[Code, list[_Older]] = {}
    for item in older:
        for code in item.codes:
            by_code.setdefault(code, []).append(item)
    built: dict[int, ObservationFact | None] = {}
    for items in by_code.values():
        items.sort(key=lambda o: o.date, reverse=True)  # stable: input order within a day
        last_day: date | None = None
        for item in items:
            if last_day is not None and item.date < last_day:
                break
            if item.position not in built:
                built[item.position] = build(item.resource)
            fact = built[item.position]
            if last_day is None and fact is not None and fact.decides:
                last_day = item.date
    return [(position, fact) for position, fact in built.items() if fact is not None]


def build_record(
    resources: Iterable[Resource],
    *,
    unavailable: Mapping[str, str] | None = None,
    fhir_base: str | None = None,
    patient_urls: Iterable[str] = (),
    terminology: Terminology | None = None,
    observations_read: ObservationSelection | None = None,
    as_of: date | None = None,
) -> PatientRecord:
    """One patient's facts. Raises RecordError when there is no Patient resource, when there
    are several different ones, or when the Patient has no id (nothing could be matched
    to it). `unavailable` (resource type → why it could not be obtained) is kept as is.

    A resource counts only when its subject (or patient) reference names this Patient; see
    `fhir_mappings.subjects`. `fhir_base` is the FHIR server the data came from and
    `patient_urls` the Patient's own Bundle entry fullUrl(s) (`patient_full_urls`).
    `terminology` (default: the packaged one) reads answers, plausibility and modality.
    With `observations_read`, only the Observations it selects are read (the others no
    rule would ever look at); with `as_of` too, results older than every window that reads
    them are counted but not built, except the ones a search may name as the latest (see
    `ObservationSelection.older_than_windows`): the record is then for that screening
    date or a later one."""
    terms = terminology or load_terminology()
    skipped: list[tuple[str, str]] = []
    given = []
    for position, resource in enumerate(resources):
        if isinstance(resource, Mapping):
            given.append(resource)
        else:
            skipped.append((f"(input item {position})", "not a FHIR resource (not an object)"))
    patients = [r for r in given if r.get("resourceType") == "Patient"]
    if not patients:
        raise RecordError("no Patient resource")
    if any(_id(p) is None for p in patients):
        raise RecordError("the Patient resource has no id")
    patient_ids = {_id(p) for p in patients}
    if len(patient_ids) > 1:
        raise RecordError(
            f"{len(patient_ids)} different Patient resources; expected one patient's record"
        )
    # The read codes of each Observation kept, by identity, for telling the older ones.
    read_codes: dict[int, tuple[Code, ...]] = {}
    prune = observations_read if as_of is not None else None
    if observations_read is not None:
        # First, so that a long chart's unread results cost one set lookup each and no
        # pass below (a conflict between two versions of one is not worth reporting either).
        selected = []
        for r in given:
            if r.get("resourceType") == "Observation":
                codes = observations_read.read_codes(r)
                if codes is not None:
                    if not codes:
                        continue
                    read_codes[id(r)] = codes
            selected.append(r)
        given = selected
    versions: dict[str, list[Resource]] = {}
    given = _deduplicate(given, skipped, versions)
    patient = parse_patient(next(r for r in given if r.get("resourceType") == "Patient"))
    patient_id = patient.ref.split("/", 1)[1]
    owner = SubjectMatcher(patient_id, fhir_base=fhir_base, patient_urls=patient_urls)
    # Two disagreeing versions none of which is this patient's are someone else's data (or
    # nobody's), not this patient's unreadable record: say why by their subject.
    for i, (twice_ref, reason) in enumerate(skipped):
        if reason == _TWICE and twice_ref in versions:
            reasons = [owner.why_not_own(r) for r in versions[twice_ref]]
            if all(r is not None for r in reasons):
                skipped[i] = (twice_ref, str(reasons[0]))
    medications_by_ref: dict[str, Resource] = {}
    for resource in given:
        if resource.get("resourceType") == "Medication" and (rid := _id(resource)):
            medications_by_ref[f"Medication/{rid}"] = resource
            medications_by_ref[f"urn:uuid:{rid}"] = resource

    observations: list[ObservationFact] = []
    conditions: list[ConditionFact] = []
    procedures: list[ProcedureFact] = []
    medications: list[MedicationFact] = []
    reports: list[DiagnosticReportFact] = []
    allergies: list[AllergyFact] = []
    buckets: dict[str, list[Any]] = {
        "Observation": observations,
        "Condition": conditions,
        "Procedure": procedures,
        "DiagnosticReport": reports,
        "AllergyIntolerance": allergies,
        **dict.fromkeys(MEDICATION_TYPES, medications),
    }
    # Positions of `observations` in `given`, to put back the older ones built at the end.
    positions: list[int] = []
    older: list[_Older] = []

    def build_observation(resource: Resource) -> ObservationFact | None:
        try:
            return refine_observation(parse_observation(resource), terms, patient)
        except Exception as exc:  # a parser bug must not lose the patient or the resource
            skipped.append((f"Observation/{_id(resource)}", f"unreadable ({type(exc).__name__})"))
            return None

    for position, resource in enumerate(given):
        kind = resource.get("resourceType")
        bucket = buckets.get(kind) if type(kind) is str else None
        if bucket is None:
            continue
        resource_type = str(kind)
        rid = _id(resource)
        if rid is None:
            skipped.append((f"{resource_type}/(no id)", "the resource has no id"))
            continue
        ref = f"{resource_type}/{rid}"
        # Never mix another patient's data, or data of nobody in particular, into this
        # record: one normal result without a subject could make a patient look eligible.
        why = owner.why_not_own(resource)
        if why is not None:
            skipped.append((ref, why))
            continue
        # An Observation keeps its modifier as a problem: it is named, never decides.
        if resource_type != "Observation" and (modifiers := modifier_extensions(resource)):
            skipped.append(
                (ref, f"unreadable (a modifier extension changes its meaning: {modifiers[0]})")
            )
            continue
        try:
            if resource_type in MEDICATION_TYPES:
                bucket.append(parse_medication(resource, medications_by_ref))
            elif resource_type == "Observation":
                codes = read_codes.get(id(resource))
                if prune is not None and as_of is not None and codes:
                    when = prune.older_than_windows(resource, codes, as_of)
                    if when is not None:
                        older.append(_Older(position, when, codes, resource))
                        continue
                fact = build_observation(resource)
                if fact is not None:
                    bucket.append(fact)
                    positions.append(position)
            elif resource_type == "DiagnosticReport":
                bucket.append(refine_report(parse_report(resource), terms))
            else:
                bucket.append(_PARSERS[resource_type](resource))
        except Exception as exc:  # a parser bug must not lose the patient or the resource
            skipped.append((ref, f"unreadable ({type(exc).__name__})"))
    kept = _older_kept(older, build_observation) if older else []
    if kept:
        merged = sorted([*zip(positions, observations, strict=True), *kept])
        observations = [fact for _, fact in merged]
    return PatientRecord(
        patient=patient,
        observations=_newest_first(observations),
        conditions=_newest_first(conditions),
        procedures=_newest_first(procedures),
        medications=_newest_first(medications),
        reports=_newest_first(reports),
        allergies=_newest_first(allergies),
        unavailable=dict(unavailable or {}),
        skipped=tuple(skipped),
        read_for=as_of if prune is not None else None,
        older_observations=len(older) - len(kept),
    )
