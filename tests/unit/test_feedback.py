"""Feedback store on a real SQLite file: idempotent retries, suppression, pseudonyms.

(The PostgreSQL store runs the same SQL; it is tested against a real server in
tests/integration/test_service_operations.py.)"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cds_hooks import feedback
from cds_hooks.feedback import (
    PostgresFeedbackStore,
    SqliteFeedbackStore,
    dedupe_key,
    make_store,
    patient_key,
)

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
    monkeypatch.setattr(feedback, "_now", lambda: start)

    async def record(store: SqliteFeedbackStore) -> None:
        await store.record_cards([("card-a", "patient-1", "trial-x", "possibly_eligible")])
        await store.record_feedback("svc", [item("card-a", reason="already-screened")])

    path = tmp_path / "f.sqlite3"
    with_store(path, record)

    def status_after(days: int) -> str | None:
        monkeypatch.setattr(feedback, "_now", lambda: start + timedelta(days=days))
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
