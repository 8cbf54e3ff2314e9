"""Screening report store on real SQLite and real PostgreSQL (pgserver), with the store's
clock injected: expiry is tested by moving that clock, never by waiting."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.report_store import ReportExpired, ReportStore, make_report_store, token_hash
from tests.support.postgres import private_postgres

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TTL = 3600
REPORT: dict[str, Any] = {"trial": {"registry_id": "NCT1"}, "criteria": [{"reason": "ü <b>"}]}


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with private_postgres("pg-reports") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/reports.sqlite3"
    url: str = request.getfixturevalue("postgres_url")

    async def empty() -> None:  # one server for the module: each test starts empty
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.execute("DROP TABLE IF EXISTS screening_report")
        finally:
            await conn.close()

    asyncio.run(empty())
    return url


async def _opened(url: str, clock: Clock) -> ReportStore:
    store = make_report_store(url, TTL, clock)
    await store.open()
    return store


def test_a_report_is_read_back_by_its_token_on_any_replica(database_url: str) -> None:
    async def scenario() -> None:
        clock = Clock()
        store, replica = await _opened(database_url, clock), await _opened(database_url, clock)
        try:
            token = await store.put(REPORT)
            # token_urlsafe(32): 256 bits, URL-safe alphabet.
            assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
            assert await replica.get(token) == REPORT
            assert token != await store.put(REPORT)
        finally:
            await store.close()
            await replica.close()

    asyncio.run(scenario())


def test_tampered_unknown_and_malformed_tokens_find_nothing(database_url: str) -> None:
    async def scenario() -> None:
        store = await _opened(database_url, Clock())
        try:
            token = await store.put(REPORT)
            flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
            for bad in (flipped, token[:-1], token + "x", "", "../../etc/passwd", "A" * 43):
                assert await store.get(bad) is None, bad
            assert await store.get(token) == REPORT
        finally:
            await store.close()

    asyncio.run(scenario())


def test_an_expired_report_is_gone_once_then_unknown_and_purged(database_url: str) -> None:
    async def scenario() -> None:
        clock = Clock()
        store = await _opened(database_url, clock)
        try:
            token = await store.put(REPORT)
            clock.now = START + timedelta(seconds=TTL - 1)
            assert await store.get(token) == REPORT
            clock.now = START + timedelta(seconds=TTL)
            with pytest.raises(ReportExpired):
                await store.get(token)
            assert await store.get(token) is None  # deleted when found expired
            assert await store.purge() == 0
        finally:
            await store.close()

    asyncio.run(scenario())


def test_purge_and_every_write_delete_what_has_expired(database_url: str) -> None:
    async def scenario() -> None:
        clock = Clock()
        store = await _opened(database_url, clock)
        try:
            old = [await store.put(REPORT) for _ in range(3)]
            clock.now = START + timedelta(seconds=TTL / 2)
            kept = await store.put(REPORT)
            clock.now = START + timedelta(seconds=TTL + 1)
            assert await store.purge() == 3
            assert await store.get(kept) == REPORT
            assert all([await store.get(t) is None for t in old])
            clock.now = START + timedelta(seconds=2 * TTL)
            await store.put(REPORT)  # the write purges `kept`, now expired
            assert await store.get(kept) is None
        finally:
            await store.close()

    asyncio.run(scenario())


def test_the_database_holds_a_hash_of_the_token_not_the_token(tmp_path: Path) -> None:
    path = tmp_path / "reports.sqlite3"

    async def scenario() -> str:
        store = await _opened(f"sqlite:///{path}", Clock())
        try:
            return await store.put(REPORT)
        finally:
            await store.close()

    token = asyncio.run(scenario())
    # Committed on return: another connection (another process) sees it at once.
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT token_hash, payload FROM screening_report").fetchall()
    assert rows == [(token_hash(token), rows[0][1])]
    assert token not in rows[0][0] + rows[0][1]


def test_several_reports_are_stored_together_or_not_at_all(database_url: str) -> None:
    async def scenario() -> None:
        store = await _opened(database_url, Clock())
        try:
            reports = [{**REPORT, "n": n} for n in range(3)]
            tokens = await store.put_many(reports)
            assert len(set(tokens)) == 3
            assert [await store.get(t) for t in tokens] == reports  # each its own, in order
            assert await store.put_many([]) == []
            # A report that cannot be serialised fails the whole call: none of the others
            # is stored (no card may link to a half-written set).
            with pytest.raises(TypeError):
                await store.put_many([{"ok": 1}, {"bad": object()}])
            assert await store.purge() == 0
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_refused_insert_stores_none_of_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "reports.sqlite3"

    async def scenario() -> None:
        store = await _opened(f"sqlite:///{path}", Clock())
        try:
            with sqlite3.connect(path) as db:  # the second row of a batch is refused
                db.execute(
                    "CREATE TRIGGER refuse BEFORE INSERT ON screening_report "
                    "WHEN NEW.payload LIKE '%refuse%' BEGIN SELECT RAISE(ABORT, 'no'); END"
                )
            with pytest.raises(sqlite3.IntegrityError):
                await store.put_many([REPORT, {"refuse": True}])
            token = await store.put(REPORT)  # the store still works after the failure
            assert await store.get(token) == REPORT
        finally:
            await store.close()
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT COUNT(*) FROM screening_report").fetchone() == (1,)

    asyncio.run(scenario())


def _delete_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_database_file_deleted_while_open_is_refused_not_recreated(tmp_path: Path) -> None:
    path = tmp_path / "reports.sqlite3"

    async def scenario() -> None:
        store = await _opened(f"sqlite:///{path}", Clock())
        try:
            token = await store.put(REPORT)
            _delete_database(path)
            with pytest.raises(Exception, match="database file is missing"):
                await store.put(REPORT)
            with pytest.raises(Exception, match="database file is missing"):
                await store.get(token)
            assert not path.exists()
        finally:
            await store.close()

    asyncio.run(scenario())


def test_an_in_memory_store_survives_a_refused_write() -> None:
    async def scenario() -> None:
        store = await _opened("sqlite://", Clock())
        try:
            token = await store.put(REPORT)
            with pytest.raises(TypeError):  # not JSON: refused before the database
                await store.put_many([{"bad": object()}])
            with pytest.raises(sqlite3.IntegrityError):  # refused by the database
                await store._put([("same", "{}"), ("same", "{}")], 0.0, 1e12)
            assert await store.get(token) == REPORT  # nothing lost with the failure
        finally:
            await store.close()

    asyncio.run(scenario())
