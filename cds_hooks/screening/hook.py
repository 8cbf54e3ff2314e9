"""The hook's part of screening: record → screen → filter / suppress → cards.

What stays in the routes is HTTP: authentication, reading and validating the request, and
turning the errors below into status codes (DataUnavailable / UnusableRecord → 412,
PrefetchTooLarge → 413).

Per trial, a card is issued only when the trial is recruiting, the patient is not
`not_eligible`, the record holds the trial's target disease, on order hooks the orders
start the trial's treatment, and a clinician did not suppress the same status recently.
The remaining cards are ranked (cards.card_rank) and cut to `CDS_MAX_CARDS`; each gets its
screening report stored first, and links to it only if storing worked.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cds_hooks.cards import (
    SUPPRESSING_REASONS,
    card_for,
    card_rank,
    has_target_condition,
    starts_treatment,
)
from cds_hooks.eligibility import Engine, ScreeningResult, TrialResult
from cds_hooks.feedback import patient_key
from cds_hooks.prefetch import resolve_data
from cds_hooks.report import build_report, report_url
from cds_hooks.screening import record_from, screen
from cds_hooks.services import Service
from cds_hooks.state import AppState
from cds_hooks.trials import TrialDefinition
from fhir_mappings.client import FhirClient
from fhir_mappings.facts import PatientRecord

log = logging.getLogger("trial_cds.screening")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A trial result that may become a card."""

    trial: TrialDefinition
    result: TrialResult
    treatment: tuple[str, ...]


def candidates(
    engine: Engine,
    screening: ScreeningResult,
    record: PatientRecord,
    *,
    hook: str,
    draft_orders: Mapping[str, Any] | None = None,
    selected: Collection[str] | None = None,
) -> list[Candidate]:
    """Trial results that deserve a card before suppression, best first (uncapped)."""
    found = []
    for result in screening.trials:
        trial = engine.trials[result.trial]
        if result.status == "not_eligible" or not result.complete or not trial.recruiting:
            continue
        if not has_target_condition(record, trial, engine.terminology):
            continue
        treatment: list[str] = []
        if hook in ("order-select", "order-sign"):
            treatment = starts_treatment(draft_orders, trial, engine.terminology, selected=selected)
            if not treatment:
                continue  # orders unrelated to the trial: stay quiet (alert fatigue)
        found.append(Candidate(trial, result, tuple(treatment)))
    return sorted(found, key=lambda c: card_rank(c.result))


# --- the feedback store, in one place: suppression before the cards, issued cards after.
async def _suppressed(state: AppState, key: str, candidate: Candidate) -> bool:
    status = await state.store.suppressed_status(
        key,
        candidate.trial.id,
        sorted(SUPPRESSING_REASONS),
        state.settings.feedback_suppress_days,
    )
    return status == candidate.result.status


async def _record_issued(state: AppState, issued: Sequence[tuple[str, str, str, str]]) -> None:
    await state.store.record_cards(issued)


async def _store_report(
    state: AppState, candidate: Candidate, screening: ScreeningResult
) -> str | None:
    """The report's URL, or None when it could not be stored: the card then goes out
    without the link (never a link to nothing), and the hook still answers."""
    report = build_report(candidate.trial, candidate.result, screening, state.engine.terminology)
    try:
        token = await state.reports.put(report)
    except Exception as exc:  # any store failure: the cards matter more than the link
        # The type only: a database error text can quote the row.
        log.error("screening report not stored (%s); card sent without it", type(exc).__name__)
        return None
    return report_url(state.settings.public_url, token)


@dataclass(frozen=True, slots=True)
class HookAnswer:
    cards: list[dict[str, Any]]
    reports: int  # reports stored (each card links to its own)
    reports_failed: int


async def answer_hook(
    state: AppState, service: Service, body: Mapping[str, Any], record: PatientRecord
) -> HookAnswer:
    """Screen the record and build the hook's cards (filter, suppress, rank, cap)."""
    engine = state.engine
    # Only what can become a card is screened: a trial that is not recruiting is left out
    # (`trial-cds screen` and the pre-screen still screen it), and a trial stops at the
    # first criterion that excludes the patient (no card, no report needs the rest).
    recruiting = [t.id for t in engine.trials.values() if t.recruiting]
    screening = screen(
        engine, record, state.settings.as_of or date.today(), recruiting, until_excluded=True
    )
    context = body["context"]
    key = patient_key(body.get("fhirServer"), context["patientId"], state.pseudonym_secret)
    # order-select: only the orders just selected can start a treatment; the rest of the
    # draft orders were already seen (CDS Hooks order-select, `selections`).
    selected = context.get("selections") if service.hook == "order-select" else None
    ranked = candidates(
        engine,
        screening,
        record,
        hook=service.hook,
        draft_orders=context.get("draftOrders"),
        selected=selected,
    )
    cards: list[dict[str, Any]] = []
    issued: list[tuple[str, str, str, str]] = []
    stored = failed = 0
    for candidate in ranked:
        if len(cards) >= state.settings.max_cards:
            break
        if await _suppressed(state, key, candidate):
            continue
        url = await _store_report(state, candidate, screening)
        stored, failed = (stored + 1, failed) if url else (stored, failed + 1)
        card = card_for(
            candidate.trial,
            candidate.result,
            screening,
            engine.terminology,
            treatment_orders=candidate.treatment,
            report_url=url,
            skipped=record.skipped_json(),
        )
        if card is not None:
            cards.append(card.wire())
            issued.append((str(card.uuid), key, candidate.trial.id, candidate.result.status))
    await _record_issued(state, issued)
    return HookAnswer(cards, stored, failed)


async def run_hook(
    state: AppState,
    service: Service,
    body: Mapping[str, Any],
    fhir: FhirClient | None,
    fields: MutableMapping[str, Any],
) -> HookAnswer:
    """The whole hook call after the request was checked: prefetch or fetch the data,
    build the record, answer. `fields` receives the allowlisted counts for the log line.
    Raises DataUnavailable, PrefetchTooLarge (from cds_hooks.prefetch) or UnusableRecord."""
    context = body["context"]
    data = await resolve_data(
        prefetch=body.get("prefetch"),
        templates=state.templates,
        context=context,
        fhir=fhir,
        deadline_seconds=state.settings.fhir_total_seconds,
        max_entries=state.settings.max_prefetch_entries,
    )
    fields.update(
        resources=len(data.resources),
        fetched=len(data.fetched),
        unavailable=sorted(data.unavailable),
    )
    record = record_from(
        data.resources,
        unavailable=data.unavailable,
        patient_id=context["patientId"],
        fhir_base=body.get("fhirServer"),
        engine=state.engine,
    )
    answer = await answer_hook(state, service, body, record)
    fields["cards"] = len(answer.cards)
    if answer.reports_failed:
        fields["error"] = "screening report not stored"
    return answer
