"""Everything the app builds once at start-up and shares across requests."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from cds_hooks.auth import Authenticator
from cds_hooks.eligibility import Engine
from cds_hooks.feedback import FeedbackStore
from cds_hooks.issuers import TrustedIssuer
from cds_hooks.replay import MemoryReplayCache, RedisReplayCache
from cds_hooks.report_store import ReportStore
from cds_hooks.services import Service
from cds_hooks.settings import Settings


@dataclass(slots=True)
class AppState:
    settings: Settings
    engine: Engine
    services: dict[str, Service]
    templates: dict[str, str]
    http: httpx.AsyncClient
    store: FeedbackStore
    # Screening reports behind the cards' links (GET /reports/<token>).
    reports: ReportStore
    authenticator: Authenticator
    issuers: dict[str, TrustedIssuer]
    replay: MemoryReplayCache | RedisReplayCache
    # Keys the patient pseudonyms in the feedback store (see feedback.patient_key).
    pseudonym_secret: str
