"""PostgreSQL backend (replicas sharing one database): an asyncpg pool, one transaction per
operation, committed before the call returns (synchronous_commit as the server sets it).

Feedback and issued-card writes both derive suppression rows from the pair; they take one
transaction-scoped advisory lock so that two replicas writing the two halves of a pair at
the same time cannot each miss the other's uncommitted row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from cds_hooks.feedback import schema
from cds_hooks.feedback.health import StoreUnavailable
from cds_hooks.feedback.store import FeedbackStore, Step, StoreOptions, _now, _timestamp

_SCHEMA_LOCK = 724001
_DERIVE_LOCK = 724002
# What the driver raises when the database, the network or a connection fails.
_FAILURES = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


def describe(exc: BaseException) -> str:
    """Class and SQLSTATE only: a PostgreSQL message or detail can quote row values."""
    state = getattr(exc, "sqlstate", None)
    return f"{type(exc).__name__}" + (f" (SQLSTATE {state})" if state else "")


def numbered(sql: str) -> str:
    """`?` placeholders as asyncpg's $1, $2, …"""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


def _bindable(row: Sequence[Any]) -> list[Any]:
    # PostgreSQL text cannot hold NUL, which valid JSON strings can: a card id with one
    # can never match an issued card, so the stored text only has to be faithful enough.
    return [value.replace("\x00", "\ufffd") if isinstance(value, str) else value for value in row]


def _changed(status: str) -> int:
    # "INSERT 0 <rows>", "DELETE <rows>"
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PostgresFeedbackStore(FeedbackStore):
    def __init__(self, dsn: str, options: StoreOptions | None = None) -> None:
        super().__init__(options)
        self._dsn = dsn
        self._pool: Any = None

    async def _connect(self) -> None:
        timeout = self.options.write_timeout
        try:
            pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=10, timeout=timeout, command_timeout=timeout
            )
        except (*_FAILURES, ValueError) as exc:
            raise StoreUnavailable(describe(exc)) from exc
        try:
            # Serialise schema creation across replicas starting at once.
            async with pool.acquire(timeout=timeout) as conn, conn.transaction():
                await conn.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
                for statement in schema.SCHEMA:
                    await conn.execute(statement)
                since = _timestamp(_now() - timedelta(days=self.options.suppress_days))
                await conn.execute(numbered(schema.DERIVE_ALL), since)
        except _FAILURES as exc:
            await pool.close()
            raise StoreUnavailable(describe(exc)) from exc
        self._pool = pool

    async def _disconnect(self) -> None:
        if self._pool is not None:
            try:
                async with asyncio.timeout(self.options.write_timeout):
                    await self._pool.close()
            except (*_FAILURES, TimeoutError):
                self._pool.terminate()
            self._pool = None

    async def _run_transaction(self, steps: Sequence[Step], *, durable: bool) -> list[int]:
        timeout = self.options.write_timeout
        counts = []
        try:
            async with self._pool.acquire(timeout=timeout) as conn, conn.transaction():
                await conn.execute(f"SELECT pg_advisory_xact_lock({_DERIVE_LOCK})")
                for sql, rows in steps:
                    statement = numbered(sql)
                    changed = 0
                    for row in rows:
                        changed += _changed(await conn.execute(statement, *_bindable(row)))
                    counts.append(changed)
        except _FAILURES as exc:
            raise StoreUnavailable(describe(exc)) from exc
        return counts

    async def _run_read(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            async with self._pool.acquire(timeout=self.options.write_timeout) as conn:
                return [tuple(r) for r in await conn.fetch(numbered(sql), *_bindable(args))]
        except _FAILURES as exc:
            raise StoreUnavailable(describe(exc)) from exc
