"""Screening reports behind the card's link: SQLite by default, PostgreSQL for replicas.

A report is stored under a bearer token: 256 random bits (`secrets.token_urlsafe(32)`), so
it cannot be guessed, and it is the only key. The database holds SHA-256(token), not the
token, so a copy of the database hands out no working links. Each report belongs to one
screening of one trial and expires `CDS_REPORT_TTL_SECONDS` after it was stored: an expired
report answers as gone once and is deleted; every write also deletes what has expired.

Each operation is one transaction, on the store's one held connection (SQLite, in its own
thread) or a pooled connection (PostgreSQL), committed before the call returns: a report
the hook links to is stored before the card leaves, and any replica sharing the database
can serve it. SQLite commits with synchronous=NORMAL (WAL): a commit survives a crash of
the service; only a power loss or an OS crash can lose the last reports, whose links then
answer as not found (the card itself still carries the evidence). Waiting for the disk on
every call cost more than the rest of the store. The hook stores all its cards' reports
in one transaction (`put_many`). The SQLite file is never recreated once open (see
`feedback.sqlite_file`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from cds_hooks.feedback.sqlite_file import HeldConnection, SqliteFile

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
T = TypeVar("T")


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
    async def _put(self, rows: Sequence[tuple[str, str]], now: float, expires: float) -> None:
        """Delete expired rows and insert these (token hash, payload), in one transaction."""

    @abstractmethod
    async def _get(self, key: str) -> tuple[str, float] | None: ...

    @abstractmethod
    async def _delete_expired(self, now: float, key: str | None = None) -> int:
        """Delete expired rows (only `key`'s when given); how many went."""

    async def put(self, report: Mapping[str, Any]) -> str:
        """Store a report; its new token (the only way to read it back)."""
        (token,) = await self.put_many([report])
        return token

    async def put_many(self, reports: Sequence[Mapping[str, Any]]) -> list[str]:
        """Store the reports in one transaction (all or none); their new tokens, in order."""
        tokens = [secrets.token_urlsafe(TOKEN_BYTES) for _ in reports]
        if not reports:
            return tokens
        now = self._now()
        rows = [
            (token_hash(token), orjson.dumps(report, option=orjson.OPT_NON_STR_KEYS).decode())
            for token, report in zip(tokens, reports, strict=True)
        ]
        await self._put(rows, now, now + self.ttl_seconds)
        return tokens

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
        report: dict[str, Any] = orjson.loads(payload)
        return report

    async def purge(self) -> int:
        """Delete every expired report; how many."""
        return await self._delete_expired(self._now())


class SqliteReportStore(ReportStore):
    """One thread and one held connection (SQLite takes one writer at a time anyway): a
    card's report costs an INSERT and a commit, not a new connection and thread."""

    def __init__(self, path: str, ttl_seconds: int, clock: Clock = _utc_now) -> None:
        super().__init__(ttl_seconds, clock)
        self._file = SqliteFile(path, timeout=30)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="report-store")
        self._held: HeldConnection | None = None

    async def _in(self, job: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            self._held = self._file.current(self._held)
            try:
                return job(self._held.connection)
            except sqlite3.Error:
                # A connection in an unknown state is not reused, except the one that holds
                # an in-memory database (closing it would drop every report).
                if not self._file.memory:
                    self._held.connection.close()
                    self._held = None
                raise

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._file.create)

        def create_schema(db: sqlite3.Connection) -> None:
            if not self._file.memory:
                db.execute("PRAGMA journal_mode=WAL")
            with _transaction(db):
                for statement in SCHEMA:
                    db.execute(statement)

        await self._in(create_schema)

    async def close(self) -> None:
        def close_held() -> None:
            if self._held is not None:
                self._held.connection.close()
                self._held = None

        await asyncio.get_running_loop().run_in_executor(self._pool, close_held)
        self._pool.shutdown(wait=True)

    async def _put(self, rows: Sequence[tuple[str, str]], now: float, expires: float) -> None:
        def put(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute("DELETE FROM screening_report WHERE expires_at <= ?", (now,))
                db.executemany(
                    "INSERT INTO screening_report (token_hash, payload, created_at, expires_at) "
                    "VALUES (?, ?, ?, ?)",
                    [(key, payload, now, expires) for key, payload in rows],
                )

        await self._in(put)

    async def _get(self, key: str) -> tuple[str, float] | None:
        def get(db: sqlite3.Connection) -> tuple[str, float] | None:
            row = db.execute(
                "SELECT payload, expires_at FROM screening_report WHERE token_hash = ?", (key,)
            ).fetchone()
            return (str(row[0]), float(row[1])) if row else None

        return await self._in(get)

    async def _delete_expired(self, now: float, key: str | None = None) -> int:
        def delete(db: sqlite3.Connection) -> int:
            with _transaction(db):
                if key is None:
                    cursor = db.execute(
                        "DELETE FROM screening_report WHERE expires_at <= ?", (now,)
                    )
                else:
                    cursor = db.execute(
                        "DELETE FROM screening_report WHERE token_hash = ? AND expires_at <= ?",
                        (key, now),
                    )
            return max(int(cursor.rowcount), 0)

        return await self._in(delete)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


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

    async def _put(self, rows: Sequence[tuple[str, str]], now: float, expires: float) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM screening_report WHERE expires_at <= $1", now)
            await conn.executemany(
                "INSERT INTO screening_report (token_hash, payload, created_at, expires_at) "
                "VALUES ($1, $2, $3, $4)",
                [(key, payload, now, expires) for key, payload in rows],
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
