"""Feedback store (CDS Hooks 2.0 §Feedback): SQLite by default, PostgreSQL for replicas.

A card overridden as "patient declined" or "already screened" suppresses the next cards
for that patient and trial for a configured period, unless the patient's screening status
for that trial changed since (e.g. possibly → likely eligible). See `store` for the
failure rules (feedback strict, the hook never blocked), `schema` for the tables, `keys`
for the patient pseudonym.
"""

from __future__ import annotations

from cds_hooks.feedback.health import StoreHealth, StoreUnavailable
from cds_hooks.feedback.keys import dedupe_key, patient_key
from cds_hooks.feedback.postgres import PostgresFeedbackStore
from cds_hooks.feedback.sqlite import SqliteFeedbackStore
from cds_hooks.feedback.store import FeedbackStore, IssuedCard, StoreOptions

__all__ = [
    "FeedbackStore",
    "IssuedCard",
    "PostgresFeedbackStore",
    "SqliteFeedbackStore",
    "StoreHealth",
    "StoreOptions",
    "StoreUnavailable",
    "dedupe_key",
    "make_store",
    "patient_key",
]


def make_store(database_url: str, options: StoreOptions | None = None) -> FeedbackStore:
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresFeedbackStore(database_url, options)
    if database_url.startswith("sqlite:///"):
        return SqliteFeedbackStore(database_url.removeprefix("sqlite:///"), options)
    if database_url.startswith("sqlite://"):
        return SqliteFeedbackStore(":memory:", options)
    raise ValueError("DATABASE_URL must start with sqlite:/// or postgresql://")
