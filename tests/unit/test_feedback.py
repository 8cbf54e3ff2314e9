"""Feedback store on a real SQLite file: idempotent retries, suppression, pseudonyms.

(The PostgreSQL store runs the same SQL; it is tested against a real server in
tests/integration/test_service_operations.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cds_hooks.feedback import (
    PostgresFeedbackStore,
    SqliteFeedbackStore,
    StoreOptions,
    StoreUnavailable,
    dedupe_key,
    make_store,
    patient_key,
)
from cds_hooks.feedback import schema as feedback_schema
from cds_hooks.feedback import store as store_module

T = TypeVar("T")
CODES = ["already-screened", "patient-declined"]


def item(
    card: str, outcome: str = "overridden", reason: str | None = "patient-declined", **kw: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "card": card,
        "outcome": outcome,
        "outcomeTimestamp": kw.pop("ts", "2026-03-02T10:00:00Z"),
        **kw,
    }
    if reason:
        out["overrideReason"] = {
            "reason": {"system": "http://example.org/reasons", "code": reason, "display": reason}
        }
    return out


def with_store(path: Path, scenario: Callable[[SqliteFeedbackStore], Awaitable[T]]) -> T:
    async def run() -> T:
        store = SqliteFeedbackStore(str(path))
        await store.open()
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(run())


def test_retries_are_no_ops_and_distinct_outcomes_are_kept(tmp_path: Path) -> None:
    async def scenario(store: SqliteFeedbackStore) -> list[int]:
        first = await store.record_feedback("svc", [item("c1")])
        retry = await store.record_feedback("svc", [item("c1")])
        # Same card, another interaction: a later timestamp, another reason, an acceptance.
        later = await store.record_feedback("svc", [item("c1", ts="2026-03-02T10:05:00Z")])
        other = await store.record_feedback("svc", [item("c1", reason="other")])
        accepted = await store.record_feedback(
            "svc", [item("c1", "accepted", None, acceptedSuggestions=[{"id": "s1"}])]
        )
        batch = await store.record_feedback("svc", [item("c2"), item("c2"), item("c3")])
        return [first, retry, later, other, accepted, batch, await store.count_feedback()]

    assert with_store(tmp_path / "f.sqlite3", scenario) == [1, 0, 1, 1, 1, 2, 6]


def test_one_lookup_answers_for_several_trials_with_each_latest_override(
    tmp_path: Path,
) -> None:
    async def scenario(store: SqliteFeedbackStore) -> list[dict[str, str]]:
        await store.record_cards(
            [
                ("card-x1", "patient-1", "trial-x", "possibly_eligible"),
                ("card-x2", "patient-1", "trial-x", "likely_eligible"),
                ("card-z", "patient-1", "trial-z", "possibly_eligible"),
                ("card-w", "patient-2", "trial-w", "likely_eligible"),
            ]
        )
        await store.flush()
        # trial-x declined twice: the later override (on the likely card) is the one kept.
        await store.record_feedback("svc", [item("card-x1", ts="2026-03-02T10:00:00Z")])
        await store.record_feedback("svc", [item("card-x2", ts="2026-03-02T11:00:00Z")])
        await store.record_feedback("svc", [item("card-z")])
        await store.record_feedback("svc", [item("card-w")])
        trials = ["trial-x", "trial-y", "trial-z", "trial-w"]
        return [
            await store.suppressed_statuses("patient-1", trials, CODES, 90),
            await store.suppressed_statuses("patient-1", [], CODES, 90),
            await store.suppressed_statuses("patient-1", trials, CODES, 0),
        ]

    assert with_store(tmp_path / "f.sqlite3", scenario) == [
        # trial-y was never suppressed; trial-w belongs to another patient.
        {"trial-x": "likely_eligible", "trial-z": "possibly_eligible"},
        {},
        {},
    ]


def test_dedupe_key_ignores_order_of_accepted_suggestions() -> None:
    a = item("c", "accepted", None, acceptedSuggestions=[{"id": "x"}, {"id": "y"}])
    b = item("c", "accepted", None, acceptedSuggestions=[{"id": "y"}, {"id": "x"}])
    assert dedupe_key("svc", a) == dedupe_key("svc", b)
    assert dedupe_key("svc", a) != dedupe_key("other-svc", a)
    c = item("c", "accepted", None, acceptedSuggestions=[{"id": "x"}])
    assert dedupe_key("svc", a) != dedupe_key("svc", c)


def test_declined_card_suppresses_that_patient_and_trial_only(tmp_path: Path) -> None:
    async def scenario(store: SqliteFeedbackStore) -> list[str | None]:
        await store.record_cards(
            [
                ("card-a", "patient-1", "trial-x", "likely_eligible"),
                ("card-b", "patient-2", "trial-x", "possibly_eligible"),
                ("card-c", "patient-3", "trial-x", "likely_eligible"),
            ]
        )
        await store.flush()
        await store.record_feedback("svc", [item("card-a")])
        await store.record_feedback("svc", [item("card-b", reason="not-a-candidate")])
        await store.record_feedback(
            "svc", [item("card-c", "accepted", None, acceptedSuggestions=[{"id": "s"}])]
        )
        return [
            await store.suppressed_status("patient-1", "trial-x", CODES, 90),
            await store.suppressed_status("patient-1", "trial-y", CODES, 90),
            # "not a candidate" is a judgement on this card, not a reason to go quiet.
            await store.suppressed_status("patient-2", "trial-x", CODES, 90),
            await store.suppressed_status("patient-3", "trial-x", CODES, 90),
            await store.suppressed_status("patient-9", "trial-x", CODES, 90),
            await store.suppressed_status("patient-1", "trial-x", CODES, 0),
        ]

    assert with_store(tmp_path / "f.sqlite3", scenario) == [
        "likely_eligible",
        None,
        None,
        None,
        None,
        None,
    ]


def test_suppression_ends_after_the_configured_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    monkeypatch.setattr(store_module, "_now", lambda: start)

    async def record(store: SqliteFeedbackStore) -> None:
        await store.record_cards([("card-a", "patient-1", "trial-x", "possibly_eligible")])
        await store.flush()
        await store.record_feedback("svc", [item("card-a", reason="already-screened")])

    path = tmp_path / "f.sqlite3"
    with_store(path, record)

    def status_after(days: int) -> str | None:
        monkeypatch.setattr(store_module, "_now", lambda: start + timedelta(days=days))
        return with_store(path, lambda s: s.suppressed_status("patient-1", "trial-x", CODES, 30))

    assert status_after(29) == "possibly_eligible"
    assert status_after(31) is None


def test_concurrent_writers_on_one_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"

    async def run() -> tuple[int, int]:
        stores = [SqliteFeedbackStore(str(path)) for _ in range(3)]
        for store in stores:
            await store.open()
        try:
            counts = await asyncio.gather(
                *(stores[i % 3].record_feedback("svc", [item(f"card-{i}")]) for i in range(45)),
                # Retries racing the first posts: still counted once.
                *(
                    stores[(i + 1) % 3].record_feedback("svc", [item(f"card-{i}")])
                    for i in range(15)
                ),
            )
            return sum(counts), await stores[0].count_feedback()
        finally:
            for store in stores:
                await store.close()

    assert asyncio.run(run()) == (45, 45)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(DISTINCT card_uuid) FROM feedback").fetchone()[0] == 45


def test_database_holds_no_patient_id(tmp_path: Path) -> None:
    key = patient_key("https://fhir.example.org/r4", "patient-12345", "server-secret")

    async def scenario(store: SqliteFeedbackStore) -> None:
        await store.record_cards([("card-a", key, "trial-x", "likely_eligible")])
        await store.flush()

    with_store(tmp_path / "f.sqlite3", scenario)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"patient-12345" not in raw
    assert key.encode() in raw


def test_patient_key_is_stable_keyed_and_server_scoped() -> None:
    key = patient_key("https://fhir.example.org/r4", "p1", "secret")
    assert key == patient_key("https://fhir.example.org/r4", "p1", "secret")
    assert key != patient_key("https://fhir.example.org/r4", "p1", "another-secret")
    assert key != patient_key("https://other.example.org/r4", "p1", "secret")
    assert key != patient_key("https://fhir.example.org/r4", "p2", "secret")
    assert "p1" not in key
    assert len(key) == 64


def test_make_store_reads_database_url(tmp_path: Path) -> None:
    assert isinstance(make_store(f"sqlite:///{tmp_path}/x.sqlite3"), SqliteFeedbackStore)
    assert isinstance(make_store("sqlite://"), SqliteFeedbackStore)
    assert isinstance(make_store("postgresql://u@localhost/db"), PostgresFeedbackStore)
    assert isinstance(make_store("postgres://u@localhost/db"), PostgresFeedbackStore)
    with pytest.raises(ValueError, match="DATABASE_URL"):
        make_store("mysql://localhost/db")


def test_feedback_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "f.sqlite3"  # the directory is created on open
    assert with_store(path, lambda s: s.record_feedback("svc", [item("c1")])) == 1
    assert with_store(path, lambda s: s.record_feedback("svc", [item("c1")])) == 0
    assert with_store(path, lambda s: s.count_feedback()) == 1


# --- store failures, batching, suppression by index, purge ------------------------------------

FAST = StoreOptions(write_timeout=0.2, lookup_timeout=0.5, flush_seconds=0.05)


def with_fast_store(path: Path, scenario: Callable[[SqliteFeedbackStore], Awaitable[T]]) -> T:
    async def run() -> T:
        store = SqliteFeedbackStore(str(path), FAST)
        await store.open()
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(run())


def test_feedback_before_the_card_batch_still_suppresses(tmp_path: Path) -> None:
    async def scenario(store: SqliteFeedbackStore) -> list[str | None]:
        # The clinician answers before the issued card reached the database: on this
        # process the queued card is written first…
        await store.record_cards([("card-a", "patient-1", "trial-x", "likely_eligible")])
        await store.record_feedback("svc", [item("card-a")])
        here = await store.suppressed_status("patient-1", "trial-x", CODES, 90)
        # …and a card queued by another process derives the suppression when it lands.
        await store.record_feedback("svc", [item("card-b")])
        before = await store.suppressed_status("patient-2", "trial-x", CODES, 90)
        await store.write_cards([("card-b", "patient-2", "trial-x", "possibly_eligible")])
        after = await store.suppressed_status("patient-2", "trial-x", CODES, 90)
        return [here, before, after]

    assert with_store(tmp_path / "f.sqlite3", scenario) == [
        "likely_eligible",
        None,
        "possibly_eligible",
    ]


def test_suppression_lookup_is_one_primary_key_search(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"

    async def scenario(store: SqliteFeedbackStore) -> str | None:
        # A busy chart: many cards for one patient and trial, most of them declined.
        cards = [(f"card-{i}", "patient-1", "trial-x", "likely_eligible") for i in range(2000)]
        await store.write_cards(cards)
        await store.record_feedback(
            "svc",
            [
                item(f"card-{i}", ts=f"2026-03-02T10:{i // 60:02d}:{i % 60:02d}Z")
                for i in range(0, 2000, 2)
            ],
        )
        return await store.suppressed_status("patient-1", "trial-x", CODES, 90)

    assert with_store(path, scenario) == "likely_eligible"
    with sqlite3.connect(path) as db:
        # The lookup reads the derived rows, bounded by the reason codes, not the cards.
        assert db.execute("SELECT COUNT(*) FROM suppression").fetchone()[0] == 1
        sql = feedback_schema.suppression_query(3, len(CODES))
        plan = " ".join(
            row[3]
            for row in db.execute(
                f"EXPLAIN QUERY PLAN {sql}", ["p", "t1", "t2", "t3", *CODES, "2026"]
            )
        )
    assert "USING PRIMARY KEY" in plan or "USING INDEX sqlite_autoindex_suppression" in plan
    assert "issued_card" not in plan
    assert "feedback" not in plan


def test_purge_drops_old_cards_and_expired_suppressions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    monkeypatch.setattr(store_module, "_now", lambda: start)
    path = tmp_path / "f.sqlite3"
    options = StoreOptions(card_retention_days=10, suppress_days=30)

    async def run(scenario: Callable[[SqliteFeedbackStore], Awaitable[T]]) -> T:
        store = SqliteFeedbackStore(str(path), options)
        await store.open()
        try:
            return await scenario(store)
        finally:
            await store.close()

    async def record(store: SqliteFeedbackStore) -> None:
        await store.write_cards([("old", "p1", "trial-x", "likely_eligible")])
        await store.record_feedback("svc", [item("old")])

    asyncio.run(run(record))

    def counts_after(days: int) -> tuple[int, int, str | None]:
        monkeypatch.setattr(store_module, "_now", lambda: start + timedelta(days=days))

        async def scenario(store: SqliteFeedbackStore) -> str | None:
            await store.purge()
            return await store.suppressed_status("p1", "trial-x", CODES, 30)

        status = asyncio.run(run(scenario))
        with sqlite3.connect(path) as db:
            cards = db.execute("SELECT COUNT(*) FROM issued_card").fetchone()[0]
            kept = db.execute("SELECT COUNT(*) FROM suppression").fetchone()[0]
        return cards, kept, status

    assert counts_after(5) == (1, 1, "likely_eligible")
    # The card is gone after its retention; the decline it received still suppresses.
    assert counts_after(11) == (0, 1, "likely_eligible")
    assert counts_after(31) == (0, 0, None)


def test_locked_database_refuses_feedback_and_keeps_every_acknowledged_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.sqlite3"

    async def scenario(store: SqliteFeedbackStore) -> tuple[set[str], set[str]]:
        acknowledged: set[str] = set()
        refused: set[str] = set()

        async def post(i: int) -> None:
            try:
                await store.record_feedback("svc", [item(f"card-{i}")])
                acknowledged.add(f"card-{i}")
            except StoreUnavailable:
                refused.add(f"card-{i}")

        # The writes that must succeed get a deadline no loaded machine misses (twenty
        # queued fsyncs can take longer than FAST's 0.2 s); only the locked ones get the
        # short deadline, and they cannot succeed however fast the machine is.
        fast = store.options
        store.options = replace(fast, write_timeout=60.0)
        await asyncio.gather(*(post(i) for i in range(20)))
        # Another process holds the write lock (a stuck backup, a migration).
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        blocker.execute("INSERT INTO store_probe (id, checked_at) VALUES (2, 'x')")
        store.options = fast
        await asyncio.gather(*(post(i) for i in range(20, 40)))
        blocker.execute("ROLLBACK")
        blocker.close()
        store.options = replace(fast, write_timeout=60.0)
        await asyncio.gather(*(post(i) for i in range(40, 60)))
        return acknowledged, refused

    acknowledged, refused = with_fast_store(path, scenario)
    assert {f"card-{i}" for i in range(20, 40)} <= refused
    assert {f"card-{i}" for i in (*range(20), *range(40, 60))} <= acknowledged
    with sqlite3.connect(path) as db:
        stored = {row[0] for row in db.execute("SELECT card_uuid FROM feedback")}
    assert stored == acknowledged


def test_deleted_database_refuses_writes_and_the_hook_side_carries_on(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"

    async def scenario(store: SqliteFeedbackStore) -> list[Any]:
        await store.write_cards([("card-a", "p1", "trial-x", "likely_eligible")])
        await store.record_feedback("svc", [item("card-a")])
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
        out: list[Any] = []
        with pytest.raises(StoreUnavailable, match="missing"):
            await store.record_feedback("svc", [item("card-b")])
        with pytest.raises(StoreUnavailable, match="missing"):
            await store.probe()
        # The hook's side: shown unsuppressed, cards queued, nothing raised.
        out.append(await store.suppressed_status("p1", "trial-x", CODES, 90))
        await store.record_cards([("card-c", "p1", "trial-x", "likely_eligible")])
        await store.flush()
        out += [store.health.available, store.health.cards_pending, store.health.lookups_failed]
        out.append(store.health.feedback_refused)
        return out

    assert with_fast_store(path, scenario) == [None, False, 1, 1, 1]
    assert not path.exists()  # never silently recreated empty


def test_queued_cards_survive_an_outage_and_overflow_drops_the_oldest(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    options = StoreOptions(write_timeout=0.2, flush_seconds=0.05, max_pending_cards=3)

    async def scenario() -> tuple[int, int, set[str]]:
        store = SqliteFeedbackStore(str(path), options)
        await store.open()
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        blocker.execute("INSERT INTO store_probe (id, checked_at) VALUES (2, 'x')")
        for i in range(5):
            await store.record_cards([(f"card-{i}", "p", "t", "likely_eligible")])
        await store.flush()  # fails: the lock is held
        failed = store.health.card_batches_failed
        blocker.execute("ROLLBACK")
        blocker.close()
        await store.flush()
        dropped = store.health.cards_dropped
        await store.close()
        with sqlite3.connect(path) as db:
            cards = {row[0] for row in db.execute("SELECT card_uuid FROM issued_card")}
        return failed, dropped, cards

    failed, dropped, cards = asyncio.run(scenario())
    assert failed >= 1
    assert dropped == 2
    assert cards == {"card-2", "card-3", "card-4"}


def test_unreachable_database_at_start_does_not_stop_the_service(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    async def scenario() -> list[Any]:
        store = SqliteFeedbackStore(str(blocker / "f.sqlite3"), FAST)
        await store.open()  # does not raise
        out: list[Any] = [store.health.available]
        with pytest.raises(StoreUnavailable):
            await store.record_feedback("svc", [item("c1")])
        out.append(await store.suppressed_status("p", "t", CODES, 90))
        await store.close()
        return out

    assert asyncio.run(scenario()) == [False, None]


def test_an_older_database_gets_its_suppressions_derived_at_start(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    with sqlite3.connect(path) as db:  # the schema before the suppression table existed
        for statement in feedback_schema.SCHEMA[:2]:
            db.execute(statement)
        now = datetime.now(UTC).isoformat()
        db.execute(
            "INSERT INTO issued_card VALUES ('card-a', 'p1', 'trial-x', 'likely_eligible', ?)",
            [now],
        )
        db.execute(
            "INSERT INTO feedback VALUES ('k', 'svc', 'card-a', 'overridden', "
            "'patient-declined', '[]', ?, ?)",
            [now, now],
        )
    status = with_store(path, lambda s: s.suppressed_status("p1", "trial-x", CODES, 90))
    assert status == "likely_eligible"


def test_in_memory_store_works_across_operations() -> None:
    async def scenario() -> tuple[int, str | None]:
        store = make_store("sqlite://")
        await store.open()
        try:
            await store.write_cards([("card-a", "p1", "trial-x", "likely_eligible")])
            new = await store.record_feedback("svc", [item("card-a")])
            return new, await store.suppressed_status("p1", "trial-x", CODES, 90)
        finally:
            await store.close()

    assert asyncio.run(scenario()) == (1, "likely_eligible")
