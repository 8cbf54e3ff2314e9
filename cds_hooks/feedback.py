"""Feedback store (CDS Hooks 2.0 §Feedback): SQLite by default, PostgreSQL for replicas.

Two tables. `issued_card` remembers, for each card we returned, which patient, trial and
status it was about, and nothing else from the record. The patient is stored as
HMAC-SHA256(CDS_PSEUDONYM_SECRET, fhirServer + patient id), never as the raw id: a plain
SHA-256 of a patient id could be reversed by hashing every plausible id, a keyed hash
cannot without the secret (which is not in the database). `feedback` records each
accepted/overridden outcome once: a retried POST maps to the same dedupe key and is a
no-op. A card overridden as "patient declined" or "already screened" suppresses the next
cards for that patient and trial for a configured period, unless the patient's screening
status for that trial changed since (e.g. possibly → likely eligible).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS issued_card (
        card_uuid TEXT PRIMARY KEY,
        patient_key TEXT NOT NULL,
        trial_id TEXT NOT NULL,
        status TEXT NOT NULL,
        issued_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS feedback (
        dedupe_key TEXT PRIMARY KEY,
        service_id TEXT NOT NULL,
        card_uuid TEXT NOT NULL,
        outcome TEXT NOT NULL,
        override_code TEXT,
        accepted_suggestions TEXT,
        outcome_timestamp TEXT NOT NULL,
        received_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS issued_card_patient ON issued_card (patient_key, trial_id)",
    "CREATE INDEX IF NOT EXISTS feedback_card ON feedback (card_uuid)",
)

_SUPPRESSION_QUERY = """
    SELECT c.status FROM feedback f JOIN issued_card c ON c.card_uuid = f.card_uuid
    WHERE c.patient_key = {0} AND c.trial_id = {1} AND f.outcome = 'overridden'
      AND f.override_code IN ({2}) AND f.received_at >= {3}
    ORDER BY f.received_at DESC LIMIT 1
"""


def patient_key(fhir_server: str | None, patient_id: str, secret: str) -> str:
    """A stable pseudonym for (FHIR server, patient): the database holds no patient id."""
    message = f"{fhir_server or ''}\x1f{patient_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def dedupe_key(service_id: str, item: Mapping[str, Any]) -> str:
    accepted = sorted(
        str(s.get("id")) for s in item.get("acceptedSuggestions") or [] if isinstance(s, dict)
    )
    reason = (item.get("overrideReason") or {}).get("reason") or {}
    parts = [
        service_id,
        str(item.get("card")),
        str(item.get("outcome")),
        str(item.get("outcomeTimestamp")),
        str(reason.get("code")),
        ",".join(accepted),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class FeedbackStore(ABC):
    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def _insert(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run an INSERT … ON CONFLICT DO NOTHING per row; how many rows were new."""

    @abstractmethod
    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _placeholder(self, n: int) -> str: ...

    def _params(self, count: int) -> list[str]:
        return [self._placeholder(i + 1) for i in range(count)]

    async def record_cards(self, cards: Sequence[tuple[str, str, str, str]]) -> None:
        """(card uuid, patient key, trial id, status) for every card returned."""
        if not cards:
            return
        p = self._params(5)
        # Only placeholders are interpolated into SQL; every value is a bound parameter.
        sql = (
            f"INSERT INTO issued_card (card_uuid, patient_key, trial_id, status, issued_at) "  # noqa: S608
            f"VALUES ({', '.join(p)}) ON CONFLICT (card_uuid) DO NOTHING"
        )
        now = _now().isoformat()
        await self._insert(sql, [(*card, now) for card in cards])

    async def record_feedback(self, service_id: str, items: Sequence[Mapping[str, Any]]) -> int:
        """Store feedback items; returns how many were new (retries are no-ops)."""
        p = self._params(8)
        sql = (
            "INSERT INTO feedback (dedupe_key, service_id, card_uuid, outcome, override_code, "  # noqa: S608
            f"accepted_suggestions, outcome_timestamp, received_at) VALUES ({', '.join(p)}) "
            "ON CONFLICT (dedupe_key) DO NOTHING"
        )
        now = _now().isoformat()
        rows = []
        for item in items:
            reason = (item.get("overrideReason") or {}).get("reason") or {}
            accepted = [s.get("id") for s in item.get("acceptedSuggestions") or []]
            rows.append(
                (
                    dedupe_key(service_id, item),
                    service_id,
                    str(item["card"]),
                    str(item["outcome"]),
                    reason.get("code"),
                    json.dumps(accepted),
                    str(item["outcomeTimestamp"]),
                    now,
                )
            )
        # Counted per statement, not as a before/after difference: concurrent posts would
        # otherwise each claim the others' rows.
        return await self._insert(sql, rows)

    async def count_feedback(self) -> int:
        rows = await self._fetch("SELECT COUNT(*) FROM feedback", [])
        return int(rows[0][0])

    async def suppressed_status(
        self, patient: str, trial_id: str, codes: Sequence[str], days: int
    ) -> str | None:
        """Status of the card a clinician suppressed recently for this patient and trial."""
        if days <= 0 or not codes:
            return None
        p = self._params(3 + len(codes))
        sql = _SUPPRESSION_QUERY.format(p[0], p[1], ", ".join(p[2:-1]), p[-1])
        since = (_now() - timedelta(days=days)).isoformat()
        rows = await self._fetch(sql, [patient, trial_id, *codes, since])
        return str(rows[0][0]) if rows else None


class SqliteFeedbackStore(FeedbackStore):
    def __init__(self, path: str) -> None:
        self._path = path
        self._db: Any = None

    def _placeholder(self, n: int) -> str:
        return "?"

    async def open(self) -> None:
        import aiosqlite

        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self._path, timeout=30)
        # WAL + NORMAL sync: durable across process crashes, and concurrent readers.
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in SCHEMA:
            await self._db.execute(statement)
        await self._db.commit()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _insert(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        new = 0
        for row in rows:
            cursor = await self._db.execute(sql, row)
            new += max(cursor.rowcount, 0)
        await self._db.commit()
        return new

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._db.execute(sql, list(args)) as cursor:
            return [tuple(r) for r in await cursor.fetchall()]


class PostgresFeedbackStore(FeedbackStore):
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: Any = None

    def _placeholder(self, n: int) -> str:
        return f"${n}"

    async def open(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=10)
        # Serialise schema creation across replicas starting at once.
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(724001)")
            for statement in SCHEMA:
                await conn.execute(statement)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _insert(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        new = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for row in rows:
                status = await conn.execute(sql, *row)  # "INSERT 0 <rows>"
                new += int(status.rsplit(" ", 1)[-1])
        return new

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._pool.acquire() as conn:
            return [tuple(r) for r in await conn.fetch(sql, *args)]


def make_store(database_url: str) -> FeedbackStore:
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresFeedbackStore(database_url)
    if database_url.startswith("sqlite:///"):
        return SqliteFeedbackStore(database_url.removeprefix("sqlite:///"))
    if database_url.startswith("sqlite://"):
        return SqliteFeedbackStore(":memory:")
    raise ValueError("DATABASE_URL must start with sqlite:/// or postgresql://")
