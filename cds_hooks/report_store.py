"""Screening reports behind the card's link: SQLite by default, PostgreSQL for replicas.

A report is stored under a bearer token: 256 random bits (`secrets.token_urlsafe(32)`), so
it cannot be guessed, and it is the only key. The database holds SHA-256(token), not the
token, so a copy of the database hands out no working links. Each report belongs to one
screening of one trial and expires `CDS_REPORT_TTL_SECONDS` after it was stored: an expired
report answers as gone once and is deleted; every write also deletes what has expired.

Each operation is one transaction on its own connection (SQLite) or a pooled connection
(PostgreSQL), committed before the call returns: a report the hook links to is on disk
before the card leaves, and any replica sharing the database can serve it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS screening_report (
        token_hash TEXT PRIMARY KEY,
        payload TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS screening_report_expiry ON screening_report (expires_at)",
)
# token_urlsafe(32): 32 random bytes → 43 URL-safe base64 characters.
TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")

Clock = Callable[[], datetime]


class ReportExpired(Exception):
    """The token was valid, and its report has expired (and is now deleted)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed(token: str) -> bool:
    return _TOKEN.fullmatch(token) is not None


class ReportStore(ABC):
    def __init__(self, ttl_seconds: int, clock: Clock = _utc_now) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def _now(self) -> float:
        return self._clock().timestamp()

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def _put(self, key: str, payload: str, now: float, expires: float) -> None:
        """Delete expired rows and insert this one, in one transaction."""

    @abstractmethod
    async def _get(self, key: str) -> tuple[str, float] | None: ...

    @abstractmethod
    async def _delete_expired(self, now: float, key: str | None = None) -> int:
        """Delete expired rows (only `key`'s when given); how many went."""

    async def put(self, report: Mapping[str, Any]) -> str:
        """Store a report; its new token (the only way to read it back)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._now()
        payload = json.dumps(report, ensure_ascii=False, separators=(",", ":"))
        await self._put(token_hash(token), payload, now, now + self.ttl_seconds)
        return token

    async def get(self, token: str) -> dict[str, Any] | None:
        """The report, None for an unknown or malformed token; ReportExpired once expired."""
        if not well_formed(token):
            return None
        key = token_hash(token)
        row = await self._get(key)
        if row is None:
            return None
        payload, expires = row
        now = self._now()
        if expires <= now:
            await self._delete_expired(now, key)
            raise ReportExpired
        report: dict[str, Any] = json.loads(payload)
        return report

    async def purge(self) -> int:
        """Delete every expired report; how many."""
        return await self._delete_expired(self._now())


class SqliteReportStore(ReportStore):
    def __init__(self, path: str, ttl_seconds: int, clock: Clock = _utc_now) -> None:
        super().__init__(ttl_seconds, clock)
        self._path = path
        # ":memory:" lives as long as one connection: keep one for the store's lifetime.
        self._memory: Any = None
        self._opened = False
        self._existing = f"file:{quote(os.path.abspath(path))}?mode=rw"

    async def _connect(self) -> Any:
        import aiosqlite

        if self._memory is not None:
            return self._memory
        # Once open, connect read-write without create: a file deleted while running is
        # never recreated empty in its place (the feedback store shares it; readiness
        # reports it). The card then goes out without its report link until an operator
        # restores the file.
        if self._opened:
            db = await aiosqlite.connect(self._existing, uri=True, timeout=30)
        else:
            db = await aiosqlite.connect(self._path, timeout=30)
        await db.execute("PRAGMA synchronous=FULL")
        return db

    async def _release(self, db: Any) -> None:
        if db is not self._memory:
            await db.close()

    async def open(self) -> None:
        import aiosqlite

        if self._path == ":memory:":
            self._memory = await aiosqlite.connect(":memory:")
        else:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        db = await self._connect()
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            for statement in SCHEMA:
                await db.execute(statement)
            await db.commit()
        finally:
            await self._release(db)
        self._opened = True

    async def close(self) -> None:
        if self._memory is not None:
            await self._memory.close()
            self._memory = None

    async def _put(self, key: str, payload: str, now: float, expires: float) -> None:
        db = await self._connect()
        try:
            await db.execute("DELETE FROM screening_report WHERE expires_at <= ?", (now,))
            await db.execute(
                "INSERT INTO screening_report (token_hash, payload, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (key, payload, now, expires),
            )
            await db.commit()
        finally:
            await self._release(db)

    async def _get(self, key: str) -> tuple[str, float] | None:
        db = await self._connect()
        try:
            async with db.execute(
                "SELECT payload, expires_at FROM screening_report WHERE token_hash = ?", (key,)
            ) as cursor:
                row = await cursor.fetchone()
        finally:
            await self._release(db)
        return (str(row[0]), float(row[1])) if row else None

    async def _delete_expired(self, now: float, key: str | None = None) -> int:
        db = await self._connect()
        try:
            if key is None:
                cursor = await db.execute(
                    "DELETE FROM screening_report WHERE expires_at <= ?", (now,)
                )
            else:
                cursor = await db.execute(
                    "DELETE FROM screening_report WHERE token_hash = ? AND expires_at <= ?",
                    (key, now),
                )
            await db.commit()
            return max(int(cursor.rowcount), 0)
        finally:
            await self._release(db)


class PostgresReportStore(ReportStore):
    def __init__(self, dsn: str, ttl_seconds: int, clock: Clock = _utc_now) -> None:
        super().__init__(ttl_seconds, clock)
        self._dsn = dsn
        self._pool: Any = None

    async def open(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=10)
        # Serialise schema creation across replicas starting at once.
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(724002)")
            for statement in SCHEMA:
                await conn.execute(statement)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _put(self, key: str, payload: str, now: float, expires: float) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM screening_report WHERE expires_at <= $1", now)
            await conn.execute(
                "INSERT INTO screening_report (token_hash, payload, created_at, expires_at) "
                "VALUES ($1, $2, $3, $4)",
                key,
                payload,
                now,
                expires,
            )

    async def _get(self, key: str) -> tuple[str, float] | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT payload, expires_at FROM screening_report WHERE token_hash = $1", key
            )
        return (str(row[0]), float(row[1])) if row else None

    async def _delete_expired(self, now: float, key: str | None = None) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            if key is None:
                status = await conn.execute(
                    "DELETE FROM screening_report WHERE expires_at <= $1", now
                )
            else:
                status = await conn.execute(
                    "DELETE FROM screening_report WHERE token_hash = $1 AND expires_at <= $2",
                    key,
                    now,
                )
        return int(status.rsplit(" ", 1)[-1])  # "DELETE <rows>"


def make_report_store(database_url: str, ttl_seconds: int, clock: Clock = _utc_now) -> ReportStore:
    """The report store on the same database as the feedback store (DATABASE_URL)."""
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresReportStore(database_url, ttl_seconds, clock)
    if database_url.startswith("sqlite:///"):
        return SqliteReportStore(database_url.removeprefix("sqlite:///"), ttl_seconds, clock)
    if database_url.startswith("sqlite://"):
        return SqliteReportStore(":memory:", ttl_seconds, clock)
    raise ValueError("DATABASE_URL must start with sqlite:/// or postgresql://")
