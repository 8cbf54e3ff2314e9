"""The hook's part of screening: record → screen → filter / suppress → cards.

What stays in the routes is HTTP: authentication, reading and validating the request, and
turning the errors below into status codes (DataUnavailable / UnusableRecord → 412,
PrefetchTooLarge → 413).

Per trial, a card is issued only when the trial is recruiting, the patient is not
`not_eligible`, the record holds the trial's target disease, on order hooks the orders
start the trial's treatment, and a clinician did not suppress the same status recently.
The remaining cards are ranked (cards.card_rank) and cut to `CDS_MAX_CARDS`; their
screening reports are stored first, in one transaction, and each card links to its own
only if storing worked.
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
async def _suppressed(state: AppState, key: str, ranked: Sequence[Candidate]) -> set[str]:
    """Trials whose card a clinician suppressed recently with the status it has now."""
    statuses = await state.store.suppressed_statuses(
        key,
        [c.trial.id for c in ranked],
        sorted(SUPPRESSING_REASONS),
        state.settings.feedback_suppress_days,
    )
    return {c.trial.id for c in ranked if statuses.get(c.trial.id) == c.result.status}


async def _record_issued(state: AppState, issued: Sequence[tuple[str, str, str, str]]) -> None:
    await state.store.record_cards(issued)


async def _store_reports(
    state: AppState, chosen: Sequence[Candidate], screening: ScreeningResult
) -> list[str | None]:
    """Each card's report URL, in one transaction; all None when they could not be
    stored: the cards then go out without the link (never a link to nothing), and the
    hook still answers."""
    reports = [build_report(c.trial, c.result, screening, state.engine.terminology) for c in chosen]
    try:
        tokens = await state.reports.put_many(reports)
    except Exception as exc:  # any store failure: the cards matter more than the link
        # The type only: a database error text can quote the row.
        log.error("screening report not stored (%s); card sent without it", type(exc).__name__)
        return [None] * len(chosen)
    return [report_url(state.settings.public_url, token) for token in tokens]


@dataclass(frozen=True, slots=True)
class HookAnswer:
    cards: list[dict[str, Any]]
    reports: int  # reports stored (each card links to its own)
    reports_failed: int


def screening_date(state: AppState) -> date:
    """The day the hook screens for: today, unless the settings fix one (demo, tests)."""
    return state.settings.as_of or date.today()


async def answer_hook(
    state: AppState,
    service: Service,
    body: Mapping[str, Any],
    record: PatientRecord,
    as_of: date | None = None,
) -> HookAnswer:
    """Screen the record (for `as_of`, by default `screening_date`) and build the hook's
    cards (filter, suppress, rank, cap)."""
    engine = state.engine
    # Only what can become a card is screened: a trial that is not recruiting is left out
    # (`trial-cds screen` and the pre-screen still screen it), and a trial stops at the
    # first criterion that excludes the patient (no card, no report needs the rest).
    recruiting = [t.id for t in engine.trials.values() if t.recruiting]
    screening = screen(
        engine, record, as_of or screening_date(state), recruiting, until_excluded=True
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
    suppressed = await _suppressed(state, key, ranked) if ranked else set()
    chosen = [c for c in ranked if c.trial.id not in suppressed][: state.settings.max_cards]
    urls = await _store_reports(state, chosen, screening) if chosen else []
    cards: list[dict[str, Any]] = []
    issued: list[tuple[str, str, str, str]] = []
    for candidate, url in zip(chosen, urls, strict=True):
        # Never None: `candidates` already left out what card_for refuses.
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
    stored = sum(1 for url in urls if url)
    failed = len(urls) - stored
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
    as_of = screening_date(state)  # once: the record is read for the day it is screened
    record = record_from(
        data.resources,
        unavailable=data.unavailable,
        patient_id=context["patientId"],
        fhir_base=body.get("fhirServer"),
        engine=state.engine,
        as_of=as_of,
    )
    answer = await answer_hook(state, service, body, record, as_of)
    fields["cards"] = len(answer.cards)
    if answer.reports_failed:
        fields["error"] = "screening report not stored"
    return answer
