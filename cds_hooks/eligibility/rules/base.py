"""What every rule evaluator shares: the Outcome it returns and the evidence helpers.

Every evaluator is parameterised only by its typed rule parameters, so a new trial reuses
it with its own code sets, thresholds and wording. None may return `met` without dated
evidence inside its window (the engine enforces it too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cds_hooks.eligibility.context import Screening, Window
from cds_hooks.eligibility.results import MET, NOT_MET, UNKNOWN, Evidence, Status
from cds_hooks.eligibility.values import Reading, fmt
from fhir_mappings.facts import (
    UNREAD_VERIFICATION,
    Code,
    ConditionFact,
    ObservationFact,
    ObservationValue,
)
from fhir_mappings.medications import MEDICATION_TYPES
from fhir_mappings.subjects import UNATTRIBUTED
from fhir_mappings.terminology import CodeSet

__all__ = ["MET", "NOT_MET", "UNKNOWN", "Evidence", "Outcome", "Screening", "Status", "Window"]

INACTIVE_CLINICAL = frozenset({"inactive", "resolved", "remission"})
FINAL_REPORT_STATUSES = frozenset({"final", "amended", "corrected", "appended"})


# Not frozen: a screening builds several Outcomes per criterion, and a frozen dataclass
# costs three times as much to construct. Rules never change one after returning it.
@dataclass(slots=True)
class Outcome:
    status: Status
    reason: str
    evidence: tuple[Evidence, ...] = ()


def day(fact: Any) -> str | None:
    return fact.date.isoformat() if getattr(fact, "date", None) else None


def plain_value(value: ObservationValue) -> tuple[Any, str | None]:
    if value.quantity is not None:
        return value.quantity.value, value.quantity.unit
    if value.integer is not None:
        return value.integer, None
    if value.boolean is not None:
        return value.boolean, None
    if value.codes:
        return sorted(value.codes)[0][1], None
    return value.text, None


def obs_evidence(
    fact: ObservationFact, reading: Reading | None = None, note: str | None = None
) -> Evidence:
    if reading is not None:
        value: Any = reading.shown_value
        unit = reading.shown_unit
        if reading.comparator:
            note = f"reported as {reading.comparator}{fmt(float(reading.shown_value))}" + (
                f"; {note}" if note else ""
            )
    else:
        value, unit = plain_value(fact.value)
    return Evidence(fact.ref, value, unit, day(fact), note)


def cond_evidence(fact: ConditionFact, note: str | None = None) -> Evidence:
    return Evidence(
        fact.ref,
        fact.display or (sorted(fact.codes)[0][1] if fact.codes else None),
        None,
        day(fact),
        note,
    )


def unknown_obs(label: str, reason: str) -> Outcome:
    return Outcome(UNKNOWN, f"{label}: {reason}")


def shown(reading: Reading) -> str:
    """The value as reported, with its comparator and unit (a coded answer with its number)."""
    comparator = reading.comparator or ""
    if reading.shown_unit is None:
        if isinstance(reading.shown_value, str):  # a coded answer: show its number too
            return f"{fmt(reading.value)} ({reading.shown_value})"
        return f"{comparator}{reading.shown_value}"
    value = reading.shown_value
    number = fmt(float(value)) if isinstance(value, int | float) else value
    return f"{comparator}{number} {reading.shown_unit}"


def join(status: Status, outcomes: Sequence[Outcome]) -> Outcome:
    evidence: list[Evidence] = []
    for o in outcomes:
        evidence.extend(e for e in o.evidence if e not in evidence)
    return Outcome(status, "; ".join(o.reason for o in outcomes), tuple(evidence))


def unreadable(codes: Iterable[Code], code_sets: Iterable[CodeSet]) -> bool:
    """True when no code of a fact is in a code system any of `code_sets` names (free text
    only, or local codes only): whether it is one of them cannot be told, so the record's
    silence about them is not proof of absence."""
    sets = tuple(code_sets)
    for system, _ in codes:  # no set built: this runs for every record of every such rule
        for code_set in sets:
            if system in code_set.systems:
                return False
    return True


def not_read(ref: str, codes: Iterable[Code], what: str, text: str | None) -> str:
    """Why a record is not readable, for the reason a clinician sees."""
    pairs = sorted(set(codes))
    if not pairs:
        return f"{ref} has no readable {what}code ({text or 'no text'})"
    named = sorted({system for system, _ in pairs})
    listed = ", ".join(named[:2]) + (", …" if len(named) > 2 else "")
    # Without a text, the code itself tells a reader what the record is.
    shown = text or pairs[0][1]
    return f"{ref} ({shown}) is coded only in {listed}, which the criterion cannot read"


def verification_unread(status: str | None) -> bool:
    """A Condition's or allergy's verificationStatus was sent in a code no FHIR status could
    be read from (`fhir_mappings`' `UNREAD_VERIFICATION`)."""
    return status is not None and status.endswith(UNREAD_VERIFICATION)


def not_confirmed(status: str | None) -> str:
    """How a reason says a suspected, or unreadably verified, record is not established."""
    if verification_unread(status):
        return f"is not known to be confirmed (verificationStatus {status})"
    return f"is suspected, not confirmed (verificationStatus {status or 'not given'})"


def lower_first(label: str) -> str:
    """A label inside a sentence: "Prior radiotherapy" → "prior radiotherapy", but acronyms
    stay as written ("FAP or Lynch syndrome", "MI in 6 months")."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def searched(s: Screening, resource_type: str, count: int, note: str) -> Evidence:
    """Evidence that a search found nothing: the query that was reviewed, dated today.

    A clear by absence is only as good as the search behind it, so the search is named.
    """
    patient_id = s.record.patient.ref.split("/", 1)[1]
    return Evidence(f"{resource_type}?patient={patient_id}", count, None, s.as_of.isoformat(), note)


# Why build_record left out a resource that is this patient's (not one whose subject names
# someone else, nobody, or cannot be matched: those are not this patient's data, and never
# change a result).
_UNREAD_OWN = (
    "appears twice with different content",
    "unreadable (",
    "the resource has no id",
    *UNATTRIBUTED,
)


def unusable(s: Screening, resource_type: str) -> list[tuple[str, str]]:
    """Resources of `resource_type` (any medication type, for "MedicationRequest") of this
    patient that were on record but could not be used (two versions that disagree, a parser
    failure, no id, a subject that names nobody: an identifier or a display only, none at
    all): any of them may be the one a rule looks for."""
    types = MEDICATION_TYPES if resource_type == "MedicationRequest" else {resource_type}
    return [
        (ref, why)
        for ref, why in s.record.skipped
        if ref.split("/", 1)[0] in types and why.startswith(_UNREAD_OWN)
    ]


def unusable_outcome(label: str, skipped: list[tuple[str, str]]) -> Outcome:
    ref, why = skipped[0]
    more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
    return Outcome(
        UNKNOWN,
        f"{label}: {ref} could not be used ({why}){more}; it may be the one looked for",
        tuple(Evidence(r, None, None, None, f"not used: {w}") for r, w in skipped),
    )


def absent(
    s: Screening,
    absence: str,
    resource_type: str,
    count: int,
    what: str,
    noun: str,
) -> Outcome:
    """The outcome of a presence rule that found nothing: a clear only where the definition
    accepts the record's silence (`absence: not_met`) and nothing of the kind was left
    unread, otherwise unknown."""
    plural = noun if count == 1 else f"{noun}s"
    if absence == "not_met" and (skipped := unusable(s, resource_type)):
        return unusable_outcome(f"No {what} among {count} {plural} reviewed", skipped)
    if absence == "not_met":
        return Outcome(
            NOT_MET,
            f"No {what} among {count} {plural} reviewed",
            (searched(s, resource_type, count, f"{plural} reviewed on the screening date"),),
        )
    return Outcome(
        UNKNOWN,
        f"No {what} among {count} {plural} reviewed; absence from the record is not proof "
        "(needs the study team)",
    )
