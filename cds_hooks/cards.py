"""Screening results → CDS Hooks cards (CDS Hooks 2.0 §Card Attributes, §Suggestion, §Link).

One card per trial at most, and only for patients whose record holds the trial's target
disease. likely_eligible → info card with a referral; possibly_eligible → info card with
what is still unknown and the tests to order; not_eligible → no card. On order-select /
order-sign the card becomes a warning when the draft orders start the treatment the trial
is about.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from cds_hooks.api.models import Action, Card, Coding, Link, Source, Suggestion
from cds_hooks.eligibility import ScreeningResult, TrialResult
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


def _detail(trial: TrialDefinition, result: TrialResult) -> str:
    titles = {c.id: c.title for c in trial.criteria}
    kinds = {c.id: c.kind for c in trial.criteria}
    met = [c for c in result.criteria if c.status == "met"]
    unknown_data = [c for c in result.criteria if c.status == "unknown" and kinds[c.id] == "data"]
    person = [c for c in result.criteria if c.status == "unknown" and kinds[c.id] != "data"]
    lines = [f"**{trial.title}** ({trial.registry_id})", ""]
    if met:
        lines.append("**Criteria met**")
        for c in met:
            day = next((e.date for e in c.evidence if e.date), None)
            lines.append(
                f"- {titles[c.id]}: {c.reason}"
                + (f" ({day})" if day and day not in c.reason else "")
            )
        lines.append("")
    if unknown_data:
        lines.append("**Still unknown (data missing or not usable)**")
        lines.extend(f"- {titles[c.id]}: {c.reason}" for c in unknown_data)
        lines.append("")
    if person:
        lines.append("**Needs the study team**")
        lines.extend(f"- {titles[c.id]}: {c.reason}" for c in person)
    return "\n".join(lines).strip()


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


def card_for(
    trial: TrialDefinition,
    result: TrialResult,
    screening: ScreeningResult,
    terminology: Terminology,
    *,
    treatment_orders: Sequence[str] = (),
    skipped: Sequence[Mapping[str, str]] = (),
) -> Card | None:
    if result.status == "not_eligible":
        return None
    patient_ref = screening.patient
    likely = result.status == "likely_eligible"
    unknown = [c for c in result.criteria if c.status == "unknown"]
    if treatment_orders:
        summary = f"Consider trial {trial.short_title} before starting {treatment_orders[0]}"
        indicator: Literal["info", "warning"] = "warning"
    elif likely:
        summary = f"May be eligible for trial: {trial.short_title} — refer"
        indicator = "info"
    else:
        summary = f"Possibly eligible for trial: {trial.short_title} ({len(unknown)} to check)"
        indicator = "info"
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
    return Card(
        uuid=str(uuid.uuid4()),
        summary=_truncate(summary),
        indicator=indicator,
        detail=_detail(trial, result),
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
        links=[
            Link(
                label=f"{trial.registry_id} on ClinicalTrials.gov",
                url=trial.url,
                type="absolute",
            )
        ],
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
