"""Screening results → CDS Hooks cards (CDS Hooks 2.0 §Card Attributes, §Suggestion, §Link).

One card per recruiting trial at most, and only for patients whose record holds the trial's
target disease. likely_eligible → info card with a referral; possibly_eligible → info card
with what is still unknown and the tests to order; not_eligible → no card. On order-select /
order-sign the card becomes a warning when the draft orders start the treatment the trial
is about.

A card is read in seconds: a summary under 140 characters that says what to do, and a
detail of at most 12 lines — what decides first (missing data, what needs the study team,
with the day it is needed by), then "N of M criteria met", then the link to the screening
report that holds every criterion with its evidence. Everything from data is escaped for
Markdown (display.markdown_text).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any, Literal

from cds_hooks.api.models import Action, Card, Coding, Link, Source, Suggestion
from cds_hooks.display import humanize_units, markdown_text
from cds_hooks.eligibility import CriterionResult, ScreeningResult, TrialResult
from cds_hooks.eligibility.deadlines import screen_by
from cds_hooks.trials import TrialDefinition
from cds_hooks.trials.model import OBSERVATION_PARAMS
from fhir_mappings._read import codes_of
from fhir_mappings.facts import LOINC, SNOMED, PatientRecord
from fhir_mappings.medications import MEDICATION_TYPES, parse_medication
from fhir_mappings.terminology import Terminology

SERVICE_LABEL = "trial-cds-hooks clinical trial screening"
OVERRIDE_SYSTEM = "http://trial-cds-hooks.org/fhir/CodeSystem/override-reason"
OVERRIDE_REASONS = (
    ("patient-declined", "Patient declined"),
    ("not-a-candidate", "Not a candidate"),
    ("already-screened", "Already screened"),
    ("other", "Other"),
)
# Feedback with these reasons hides the card for a while (alert fatigue).
SUPPRESSING_REASONS = frozenset({"patient-declined", "already-screened"})
RESULT_EXTENSION = "org.trial-cds-hooks.screening"
SUMMARY_LIMIT = 140
DETAIL_LINE_LIMIT = 12
REPORT_LINK_LABEL = "Screening report: every criterion with its evidence"


def has_target_condition(
    record: PatientRecord, trial: TrialDefinition, terminology: Terminology
) -> bool:
    sets = [terminology.code_set(n) for n in trial.target_code_sets]
    return any(
        c.verification_status not in ("refuted", "entered-in-error")
        and any(s.matches(c.codes) for s in sets)
        for c in record.conditions
    )


def _order_concept(resource: Mapping[str, Any], medications: Mapping[str, Any]) -> Any:
    """What an order orders: the medication of a MedicationRequest (inline, contained or
    a Medication elsewhere in draftOrders), else the code of a ServiceRequest/Procedure."""
    if resource.get("medicationCodeableConcept") is not None:
        return resource["medicationCodeableConcept"]
    reference = resource.get("medicationReference")
    if isinstance(reference, dict) and isinstance(reference.get("reference"), str):
        ref = reference["reference"]
        if ref.startswith("#"):
            for contained in resource.get("contained") or []:
                if isinstance(contained, dict) and contained.get("id") == ref[1:]:
                    return contained.get("code")
        medication = medications.get(ref)
        if isinstance(medication, dict):
            return medication.get("code")
        return None
    return resource.get("code")


def starts_treatment(
    draft_orders: Mapping[str, Any] | None,
    trial: TrialDefinition,
    terminology: Terminology,
    *,
    selected: Collection[str] | None = None,
) -> list[str]:
    """Display names of draft orders that start the trial's treatment; with `selected`
    (order-select `selections`, "Type/id"), only those orders count."""
    if not draft_orders or not trial.treatment_code_sets:
        return []
    sets = [terminology.code_set(n) for n in trial.treatment_code_sets]
    resources = [
        e["resource"]
        for e in draft_orders.get("entry") or []
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
    medications = {
        f"Medication/{r.get('id')}": r for r in resources if r.get("resourceType") == "Medication"
    }
    found = []
    for resource in resources:
        if resource.get("resourceType") == "Medication":
            continue
        if selected is not None and f"{resource.get('resourceType')}/{resource.get('id')}" not in (
            selected
        ):
            continue
        concept = _order_concept(resource, medications)
        if resource.get("resourceType") in MEDICATION_TYPES:
            # The same reader as the record's medications: ingredient codes of a product
            # (SCD/SBD/brand/ATC) and of a referenced Medication count.
            order = parse_medication(resource, medications)
            codes, text = order.codes, order.display
        else:
            codes = codes_of(concept)
            text = concept.get("text") if isinstance(concept, dict) else None
        if any(s.matches(codes) for s in sets):
            found.append(text or resource.get("resourceType", "order"))
    return found


def _truncate(text: str) -> str:
    return text if len(text) < SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 2] + "…"


# A resource reference in a reason, "(Observation/x-1, 2026-02-20)" or "(Observation/x-1)":
# the report shows it; the card has no room for it.
_REFERENCE = re.compile(r"\s*\((?:[A-Z][A-Za-z]+/[^()]*|[A-Z][A-Za-z]+\?[^()]*)\)")
_ITEM_LIMIT = 110


def _short_reason(title: str, reason: str) -> str:
    """The first clause of a reason without resource references, and without a leading
    "ANC: " when the title already names it."""
    first = _REFERENCE.sub("", reason.split("; ")[0]).strip()
    label, sep, rest = first.partition(": ")
    if sep and rest and label.lower() in title.lower():
        first = rest
    first = humanize_units(first)
    return first if len(first) <= _ITEM_LIMIT else first[: _ITEM_LIMIT - 1].rstrip() + "…"


def _by(day: date | None) -> str:
    return f" — needed by {day.isoformat()}" if day else ""


def detail_blocks(
    trial: TrialDefinition, result: TrialResult, report_url: str | None
) -> list[list[str]]:
    """What decides first (what is missing, what needs the study team, each with the day
    it is needed by), then "N of M criteria met", then the report link; at most
    DETAIL_LINE_LIMIT lines in all. Blocks are Markdown paragraphs or lists (a line after a
    list without a blank line would continue its last item). Every text from data or
    definitions is Markdown-escaped."""
    # A missing result is needed before the first result on file leaves its lookback
    # window: after that day the screening has to be repeated anyway.
    deadline = screen_by(trial, result)
    data_open = [c for c in result.criteria if c.status == "unknown" and _kind(trial, c) == "data"]
    person_open = [
        c for c in result.criteria if c.status == "unknown" and _kind(trial, c) != "data"
    ]
    tail = [[_met_line(result)]]
    if report_url:
        tail.append([f"[Open the screening report]({report_url})"])
    budget = DETAIL_LINE_LIMIT - len(tail)
    blocks: list[list[str]] = []

    def section(header: str, items: list[str]) -> None:
        nonlocal budget
        if not items or budget < 2:
            return
        room = budget - 1
        if len(items) > room:
            items = [*items[: room - 1], f"- … {len(items) - room + 1} more in the report"]
        blocks.append([header])
        blocks.append(items)
        budget -= 1 + len(items)

    section(
        "**Missing or not usable**",
        [f"- {_item(trial, c)}{_by(deadline)}" for c in data_open],
    )
    section(
        "**Needs the study team**",
        [f"- {markdown_text(_title(trial, c))}{_by(deadline)}" for c in person_open],
    )
    return [*blocks, *tail]


def _kind(trial: TrialDefinition, result: CriterionResult) -> str:
    return trial.criterion(result.id).kind


def _title(trial: TrialDefinition, result: CriterionResult) -> str:
    return trial.criterion(result.id).title


def _item(trial: TrialDefinition, result: CriterionResult) -> str:
    title = _title(trial, result)
    return f"{markdown_text(title)}: {markdown_text(_short_reason(title, result.reason))}"


def _met_line(result: TrialResult) -> str:
    passed = sum(1 for c in result.criteria if c.passes)
    return f"{passed} of {len(result.criteria)} criteria met"


def _detail(trial: TrialDefinition, result: TrialResult, report_url: str | None) -> str:
    # No title line: the summary and `source.topic` already name the trial, and the first
    # line of the detail is what decides.
    blocks = detail_blocks(trial, result, report_url)
    return "\n\n".join("\n".join(block) for block in blocks)


def card_rank(result: TrialResult) -> tuple[int, int, str]:
    """Best card first: likely before possibly eligible, then fewer unknowns, then the
    registry id (so the same patient always sees the same order)."""
    unknowns = sum(1 for c in result.criteria if c.status == "unknown")
    return (0 if result.status == "likely_eligible" else 1, unknowns, result.registry)


def _referral(trial: TrialDefinition, patient_ref: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {
            "coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}],
            "text": "Referral to clinical trial coordinator",
        },
        "subject": {"reference": patient_ref},
        "reasonCode": [{"text": f"Pre-screening for clinical trial {trial.registry_id}"}],
        "note": [{"text": f"Possible eligibility for {trial.title} ({trial.url})"}],
    }


def missing_orders(
    trial: TrialDefinition, result: TrialResult, terminology: Terminology
) -> list[tuple[str, str]]:
    """(LOINC code, display) of tests whose absence left a data criterion unknown."""
    unknown = {c.id for c in result.criteria if c.status == "unknown"}
    orders: dict[str, str] = {}
    for criterion in trial.criteria:
        if criterion.id not in unknown or criterion.kind != "data":
            continue
        for name in sorted(criterion.code_sets(OBSERVATION_PARAMS)):
            code_set = terminology.code_set(name)
            if code_set.order_code and code_set.order_code[0] == LOINC:
                orders.setdefault(code_set.order_code[1], code_set.order_display or name)
    return sorted(orders.items())


def _order(code: str, display: str, patient_ref: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": patient_ref},
    }


def _summary(trial: TrialDefinition, result: TrialResult, treatment_orders: Sequence[str]) -> str:
    if treatment_orders:
        return f"Consider trial {trial.short_title} before starting {treatment_orders[0]}"
    if result.status == "likely_eligible":
        return f"May be eligible for trial: {trial.short_title} — refer"
    open_items = sum(1 for c in result.criteria if c.status == "unknown")
    return f"Possibly eligible for trial: {trial.short_title} — {open_items} items to check"


def card_for(
    trial: TrialDefinition,
    result: TrialResult,
    screening: ScreeningResult,
    terminology: Terminology,
    *,
    treatment_orders: Sequence[str] = (),
    skipped: Sequence[Mapping[str, str]] = (),
    report_url: str | None = None,
) -> Card | None:
    """The card for one trial, or None when it must not produce one (not eligible, or the
    trial is not recruiting). `report_url` is the stored screening report, when storing
    it worked: the card never links to a report that does not exist."""
    if result.status == "not_eligible" or not trial.recruiting:
        return None
    patient_ref = screening.patient
    likely = result.status == "likely_eligible"
    indicator: Literal["info", "warning"] = "warning" if treatment_orders else "info"
    suggestions = [
        Suggestion(
            label="Refer to trial coordinator",
            uuid=str(uuid.uuid4()),
            isRecommended=likely,
            actions=[
                Action(
                    type="create",
                    description=f"Draft referral to the {trial.registry_id} trial coordinator",
                    resource=_referral(trial, patient_ref),
                )
            ],
        )
    ]
    orders = missing_orders(trial, result, terminology) if not likely else []
    if orders:
        suggestions.append(
            Suggestion(
                label="Order the missing tests",
                uuid=str(uuid.uuid4()),
                actions=[
                    Action(
                        type="create",
                        description=f"Order {display}",
                        resource=_order(code, display, patient_ref),
                    )
                    for code, display in orders
                ],
            )
        )
    links = [
        Link(
            label=f"{trial.registry_id} on ClinicalTrials.gov",
            url=trial.url,
            type="absolute",
        )
    ]
    if report_url:
        links.insert(0, Link(label=REPORT_LINK_LABEL, url=report_url, type="absolute"))
    return Card(
        uuid=str(uuid.uuid4()),
        summary=_truncate(_summary(trial, result, treatment_orders)),
        indicator=indicator,
        detail=_detail(trial, result, report_url),
        source=Source(
            label=SERVICE_LABEL,
            url=trial.url,
            topic=Coding(
                system="https://clinicaltrials.gov",
                code=trial.registry_id,
                display=trial.short_title,
            ),
        ),
        suggestions=suggestions,
        selectionBehavior="at-most-one",
        overrideReasons=[
            Coding(system=OVERRIDE_SYSTEM, code=code, display=display)
            for code, display in OVERRIDE_REASONS
        ],
        links=links,
        extension={
            RESULT_EXTENSION: {
                "patient": screening.patient,
                "as_of": screening.as_of.isoformat(),
                "trials": [result.to_json()],
                # Resources present but not used (e.g. no subject), so none vanish silently.
                **({"skipped": list(skipped)} if skipped else {}),
            }
        },
    )
