"""The screening report behind a card: one trial's screening as a document for the page.

Built when the card is issued and stored as is (report_store), so the page shows exactly
what the card was based on, even after the trial definition changes. Values are already in
the criterion's unit (display.value_text); the page only lays the document out.

The patient is not named in it: a reference to the Patient resource reads "Patient", and
searches lose their `patient=` parameter. The clinician opened it from the patient's chart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cds_hooks.display import humanize_units, value_text
from cds_hooks.eligibility import CriterionResult, ScreeningResult, TrialResult
from cds_hooks.eligibility.deadlines import needed_by, screen_by
from cds_hooks.trials import TrialDefinition
from fhir_mappings.terminology import Terminology

REPORT_VERSION = 1
# (group key, heading): what is still open first, then what rules the patient out, then
# what is satisfied; the same order a coordinator works in.
GROUPS: Sequence[tuple[str, str]] = (
    ("open", "Still to check"),
    ("fails", "Against eligibility"),
    ("passes", "Satisfied"),
)
STATUS_TEXT = {"met": "met", "not_met": "not met", "unknown": "unknown"}
TRIAL_STATUS_TEXT = {
    "likely_eligible": "Likely eligible",
    "possibly_eligible": "Possibly eligible",
    "not_eligible": "Not eligible",
}
_PATIENT_PARAM = re.compile(r"(?<=[?&])patient=[^&]*&?")


def report_url(public_url: str, token: str) -> str:
    """Where the report page for `token` is served (`CDS_PUBLIC_URL` + /reports/<token>)."""
    return f"{public_url.rstrip('/')}/reports/{token}"


def _source(reference: str) -> str:
    """A resource reference without the patient's id."""
    if reference.startswith("Patient/"):
        return "Patient"
    return _PATIENT_PARAM.sub("", reference).rstrip("?&")


def _group(result: CriterionResult) -> str:
    if result.passes:
        return "passes"
    if result.fails:
        return "fails"
    return "open"


def _criterion(
    trial: TrialDefinition, result: CriterionResult, terminology: Terminology
) -> dict[str, Any]:
    definition = trial.criterion(result.id)
    due = needed_by(definition, result)
    return {
        "id": result.id,
        "title": definition.title,
        "kind": definition.kind,
        "role": result.role,
        "status": result.status,
        "status_text": STATUS_TEXT[result.status],
        "group": _group(result),
        "reason": humanize_units(result.reason),
        "source_text": definition.source_text or "",
        "needed_by": due.isoformat() if due else None,
        "evidence": [
            {
                "value": value_text(e, definition, terminology),
                "date": e.date or "",
                "source": _source(e.reference),
                "note": humanize_units(e.note) if e.note else "",
            }
            for e in result.evidence
        ],
    }


def build_report(
    trial: TrialDefinition,
    result: TrialResult,
    screening: ScreeningResult,
    terminology: Terminology,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    due = screen_by(trial, result)
    criteria = [_criterion(trial, c, terminology) for c in result.criteria]
    return {
        "version": REPORT_VERSION,
        "trial": {
            "id": trial.id,
            "title": trial.title,
            "short_title": trial.short_title,
            "registry_id": trial.registry_id,
            "url": trial.url,
            "recruitment_status": trial.recruitment_status,
        },
        "as_of": screening.as_of.isoformat(),
        "created": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "status": result.status,
        "status_text": TRIAL_STATUS_TEXT[result.status],
        "screen_by": due.isoformat() if due else None,
        "met": sum(1 for c in result.criteria if c.passes),
        "total": len(result.criteria),
        "criteria": criteria,
    }


def grouped(report: Mapping[str, Any]) -> list[tuple[str, str, list[Mapping[str, Any]]]]:
    """(group key, heading, criteria) in page order, empty groups left out."""
    out = []
    for key, heading in GROUPS:
        rows = [c for c in report["criteria"] if c["group"] == key]
        if rows:
            out.append((key, heading, rows))
    return out
