"""Condition → ConditionFact."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from typing import Any

from fhir_mappings._read import (
    as_dict,
    as_list,
    codes_of,
    display_of,
    known_status,
    short_repr,
)
from fhir_mappings.dates import first_full_date, parse_date
from fhir_mappings.facts import (
    SUSPECTED_VERIFICATION,
    UNREAD_VERIFICATION,
    Code,
    ConditionFact,
)

HISTOLOGY_EXTENSION = (
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
)
CLINICAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
# German base profile: certainty of an ICD-10-GM coding (G confirmed, V suspected,
# A excluded, Z status post), carried as an extension on the coding itself.
ICD10GM_CERTAINTY = "http://fhir.de/StructureDefinition/icd-10-gm-diagnosesicherheit"


def _icd10gm_certainty(code: Any) -> set[str]:
    found: set[str] = set()
    for coding in as_list(as_dict(code).get("coding")):
        for extension in as_list(as_dict(coding).get("extension")):
            extension = as_dict(extension)
            url = extension.get("url")
            # Some feeds write the extension URL with https; it names the same extension.
            if type(url) is not str or url.replace("https://", "http://") != ICD10GM_CERTAINTY:
                continue
            value = extension.get("valueCode")
            if value is None:
                value = as_dict(extension.get("valueCoding")).get("code")
            if type(value) is str:
                found.add(value.strip().upper())
    return found


VERIFICATION_CODES = frozenset(
    {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}
)
# R4's clinical statuses. R5's "unknown" is deliberately absent: it is read as no status
# given, so a rule about present disease does not take it for "active".
CLINICAL_CODES = frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"})


# clinicalStatus codes that say a condition is over; an abatement then agrees with them.
ENDED_CLINICAL = frozenset({"inactive", "resolved", "remission"})


def _abatement(resource: Mapping[str, Any]) -> str | None:
    """abatement[x] in words, or None when there is none (or `abatementBoolean` false)."""
    for key in ("abatementDateTime", "abatementString"):
        value = resource.get(key)
        if value is not None:
            return value if type(value) is str and value.strip() else short_repr(value)
    if "abatementBoolean" in resource:
        value = resource["abatementBoolean"]
        return None if value is False else "yes" if value is True else short_repr(value)
    period = resource.get("abatementPeriod")
    if period is not None:
        period = as_dict(period)
        start, end = period.get("start"), period.get("end")
        return f"{start or '?'} to {end or '?'}" if start or end else "a period"
    age = resource.get("abatementAge")
    if age is not None:
        age = as_dict(age)
        return f"age {age.get('value', '?')} {age.get('unit') or age.get('code') or ''}".strip()
    if resource.get("abatementRange") is not None:
        return "an age range"
    return None


def parse_condition(resource: Mapping[str, Any]) -> ConditionFact:
    """Never raises; a missing id or an unreadable date is named in `problem`.

    The date is onset[x] (dateTime, or a Period's start) and else recordedDate. Unlike an
    Observation's effective date, a partial onset ("2019") is common and is passed over for
    recordedDate, which is a full date no earlier than the diagnosis.
    """
    resource = as_dict(resource)
    problems: list[str] = []
    rid = resource.get("id")
    ref = f"Condition/{rid}" if type(rid) is str and rid else "Condition/(no id)"
    if ref == "Condition/(no id)":
        problems.append("the resource has no id")
    onset_period = as_dict(resource.get("onsetPeriod"))
    when, why = first_full_date(
        resource.get("onsetDateTime"), onset_period.get("start"), resource.get("recordedDate")
    )
    if when is None and why is not None:
        problems.append(f"onset date {why}")
    onset_span = _partial_onset(resource.get("onsetDateTime") or onset_period.get("start"), when)
    histology: set[Code] = set()
    for extension in as_list(resource.get("extension")):
        extension = as_dict(extension)
        if extension.get("url") == HISTOLOGY_EXTENSION:
            histology |= codes_of(extension.get("valueCodeableConcept"))
    profiles = frozenset(
        p for p in as_list(as_dict(resource.get("meta")).get("profile")) if type(p) is str
    )
    code = resource.get("code")
    verification, unread = known_status(
        resource.get("verificationStatus"), VERIFICATION_STATUS_SYSTEM, VERIFICATION_CODES
    )
    certainty = _icd10gm_certainty(code)
    if "A" in certainty and verification is None and not unread:
        verification = "refuted"  # "ausgeschlossen": the diagnosis was ruled out
    # Suspected when the status says so, when a national certainty marker says "suspected"
    # (V) or contradicts a confirmed status (A with "confirmed"), or when the status sent
    # is none we can read: it may say "refuted" or "entered in error" in a local code.
    suspected = (
        verification in SUSPECTED_VERIFICATION
        or bool(unread)
        or "V" in certainty
        or ("A" in certainty and verification != "refuted")
    )
    if unread:
        verification = unread + UNREAD_VERIFICATION
    # A clinical status we cannot read counts as none given ("R" may be "resolved").
    clinical_status, _ = known_status(
        resource.get("clinicalStatus"), CLINICAL_STATUS_SYSTEM, CLINICAL_CODES
    )
    return ConditionFact(
        ref=ref,
        codes=codes_of(code),
        clinical_status=clinical_status,
        verification_status=verification,
        date=when,
        body_sites=codes_of(resource.get("bodySite")),
        histology=frozenset(histology),
        profiles=profiles,
        category=codes_of(resource.get("category")),
        display=display_of(code),
        problem="; ".join(problems) or None,
        suspected=suspected,
        status_post="Z" in certainty,
        abated=None if clinical_status in ENDED_CLINICAL else _abatement(resource),
        onset_span=onset_span,
    )


def _partial_onset(onset: object, when: date | None) -> tuple[date, date] | None:
    """The days a partial onset ("2025", "2025-06") covers, when `when` (the date read)
    came from recordedDate instead; None when the onset was a full date or absent."""
    parsed = parse_date(onset)
    if when is None or parsed.value is None or parsed.precision not in ("year", "month"):
        return None
    start = parsed.value
    if parsed.precision == "year":
        end = date(start.year, 12, 31)
    else:
        end = date(start.year, start.month, calendar.monthrange(start.year, start.month)[1])
    # recordedDate is no earlier than the diagnosis: the onset ends there at the latest.
    return (start, min(end, when))
