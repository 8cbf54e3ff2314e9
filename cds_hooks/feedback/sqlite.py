"""SQLite backend: one writer thread, a few reader threads, a transaction per operation.

Writes go through one thread and one connection (SQLite takes one writer at a time
anyway), each operation in its own BEGIN IMMEDIATE … COMMIT: a failed commit rolls back
that operation only, and its caller hears about it. Feedback commits with
synchronous=FULL (on disk before the 200), issued-card batches with NORMAL (WAL: safe
across a process crash). Readers keep one connection per thread.

Before every operation the file is checked to still be the one the connection opened: a
database deleted or replaced while the service runs is refused (503, and not ready),
never written into an unlinked file, and never silently recreated empty.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

from cds_hooks.feedback import schema
from cds_hooks.feedback.health import StoreUnavailable
from cds_hooks.feedback.sqlite_file import HeldConnection, SqliteFile, describe
from cds_hooks.feedback.store import FeedbackStore, Step, StoreOptions, _now, _timestamp

T = TypeVar("T")
_READERS = 2
_MAX_WAITING_READS = 32


class SqliteFeedbackStore(FeedbackStore):
    def __init__(self, path: str, options: StoreOptions | None = None) -> None:
        super().__init__(options)
        self._file = SqliteFile(path, timeout=self.options.write_timeout)
        self._memory = self._file.memory
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(_READERS, thread_name_prefix="sqlite-reader")
        self._writer: HeldConnection | None = None
        self._readers = threading.local()
        self._all_readers: list[HeldConnection] = []
        self._readers_lock = threading.Lock()
        self._reads_waiting = 0

    async def _in(self, pool: ThreadPoolExecutor, job: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, job)

    # --- connections (in the store's threads) -----------------------------------------------

    def _writer_connection(self) -> HeldConnection:
        self._writer = self._file.current(self._writer)
        return self._writer

    def _drop_writer(self) -> None:
        if self._writer is not None:
            self._writer.connection.close()
            self._writer = None

    def _reader_connection(self) -> HeldConnection:
        held: HeldConnection | None = getattr(self._readers, "connection", None)
        current = self._file.current(held, reader=True)
        if current is not held:
            self._readers.connection = current
            with self._readers_lock:
                if held in self._all_readers:
                    self._all_readers.remove(held)
                self._all_readers.append(current)
        return current

    # --- FeedbackStore -----------------------------------------------------------------------

    async def _connect(self) -> None:
        await self._in(self._writer_pool, self._create_schema)

    def _create_schema(self) -> None:
        try:
            self._file.create()
            connection = self._writer_connection().connection
            if not self._memory:
                connection.execute("PRAGMA journal_mode=WAL")  # concurrent readers
            connection.execute("BEGIN IMMEDIATE")
            for statement in schema.SCHEMA:
                connection.execute(statement)
            since = _now() - timedelta(days=self.options.suppress_days)
            connection.execute(schema.DERIVE_ALL, (_timestamp(since),))
            connection.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._drop_writer()
            raise StoreUnavailable(describe(exc)) from exc

    async def _disconnect(self) -> None:
        def close_all() -> None:
            self._drop_writer()
            with self._readers_lock:
                for held in self._all_readers:
                    held.connection.close()
                self._all_readers.clear()

        await self._in(self._writer_pool, close_all)
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)

    async def _run_transaction(self, steps: Sequence[Step], *, durable: bool) -> list[int]:
        # One deadline for waiting in the writer's queue and for the database's lock
        # together: behind a stuck lock, writes fail in `write_timeout`, not in a multiple.
        deadline = time.monotonic() + self.options.write_timeout
        return await self._in(self._writer_pool, lambda: self._transact(steps, durable, deadline))

    def _transact(self, steps: Sequence[Step], durable: bool, deadline: float) -> list[int]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise StoreUnavailable("database busy: no write slot in time")
        connection = self._writer_connection().connection
        try:
            connection.execute(f"PRAGMA busy_timeout={max(int(left * 1000), 1)}")
            connection.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            connection.execute("BEGIN IMMEDIATE")
            counts = [max(connection.executemany(sql, rows).rowcount, 0) for sql, rows in steps]
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            # A connection in an unknown state is not reused.
            self._drop_writer()
            raise StoreUnavailable(describe(exc)) from exc
        return counts

    async def _run_read(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._memory:  # one shared-cache connection: no table-lock contention
            return await self._in(
                self._writer_pool, lambda: self._query(self._writer_connection(), sql, args)
            )
        # A hook gives up on a slow lookup, but its thread job still runs: on a stalled
        # disk, stop queueing more of them rather than grow the queue with every call.
        with self._readers_lock:
            if self._reads_waiting >= _MAX_WAITING_READS:
                raise StoreUnavailable("database reads backed up")
            self._reads_waiting += 1

        def read() -> list[tuple[Any, ...]]:
            try:
                return self._query(self._reader_connection(), sql, args)
            finally:
                with self._readers_lock:
                    self._reads_waiting -= 1

        return await self._in(self._reader_pool, read)

    def _query(self, held: HeldConnection, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            return [tuple(row) for row in held.connection.execute(sql, list(args)).fetchall()]
        except sqlite3.Error as exc:
            raise StoreUnavailable(describe(exc)) from exc

    async def _readiness_problem(self) -> str | None:
        path = self._file.path
        if path is None:
            return None
        # Root ignores file modes; everyone else would only find out at the next restart.
        if not path.exists():
            return None  # the probe write says "missing"
        if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            return "database file or its directory is not writable"
        return None
