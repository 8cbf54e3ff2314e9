"""The feedback store's contract, shared by the SQLite and PostgreSQL backends.

Two kinds of operation, with two failure rules:

- Feedback and the readiness probe are strict. Each runs in its own transaction and
  returns only once that transaction committed, so a 200 means the row is durable; when
  the database cannot take it the operation raises `StoreUnavailable` (→ 503).
- The hook's two uses never fail the hook. The suppression lookup answers None (shown,
  not suppressed) when the store cannot be read in time; issued cards are queued and
  written in batches off the request path (`CardBatcher`). Both failures are logged
  (error type only: never patient data) and counted in `health`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cds_hooks.feedback import schema
from cds_hooks.feedback.batch import CardBatcher
from cds_hooks.feedback.health import StoreHealth, StoreUnavailable
from cds_hooks.feedback.keys import dedupe_key

log = logging.getLogger("trial_cds.store")

# (card uuid, patient key, trial id, status)
IssuedCard = tuple[str, str, str, str]
# One statement run for each row of parameters, inside a transaction.
Step = tuple[str, Sequence[Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class StoreOptions:
    # How long a write may wait for the database (lock, connection) before it fails.
    write_timeout: float = 5.0
    # How long the hook waits for the suppression lookup before showing the card anyway.
    lookup_timeout: float = 0.5
    # Issued cards are written in batches at most this far apart…
    flush_seconds: float = 0.2
    # …and at most this many wait in memory while the store is down (oldest dropped first).
    max_pending_cards: int = 10_000
    # Issued cards older than this are purged: feedback on them can no longer suppress.
    card_retention_days: int = 90
    # Suppressions older than this have expired (CDS_FEEDBACK_SUPPRESS_DAYS).
    suppress_days: int = 90
    purge_every_seconds: float = 3600.0


# A database that was not there is tried again at most this often.
_RECONNECT_SECONDS = 2.0


def _now() -> datetime:
    return datetime.now(UTC)


def _timestamp(when: datetime) -> str:
    # Fixed width, so the TEXT columns compare in time order.
    return when.astimezone(UTC).isoformat(timespec="microseconds")


class FeedbackStore(ABC):
    def __init__(self, options: StoreOptions | None = None) -> None:
        self.options = options or StoreOptions()
        self.health = StoreHealth()
        self._connected = False
        self._connect_error: StoreUnavailable | None = None
        self._next_connect = 0.0
        self._batcher = CardBatcher(
            self._write_cards,
            interval=self.options.flush_seconds,
            max_pending=self.options.max_pending_cards,
            health=self.health,
            on_failure=self._failed,
            maintenance=self._maintain,
            maintenance_every=self.options.purge_every_seconds,
        )

    # --- what a backend provides ------------------------------------------------------------

    @abstractmethod
    async def _connect(self) -> None:
        """Create the schema (and pool); raise StoreUnavailable when the database is not
        there. Called by open() and again, throttled, until it succeeds."""

    @abstractmethod
    async def _disconnect(self) -> None: ...

    @abstractmethod
    async def _run_transaction(self, steps: Sequence[Step], *, durable: bool) -> list[int]:
        """Run the steps in ONE transaction and commit; rows changed per step. `durable`:
        the commit reaches the disk before returning (feedback), not only the OS.
        Raises StoreUnavailable, having rolled back, when anything fails."""

    @abstractmethod
    async def _run_read(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Raises StoreUnavailable."""

    async def _readiness_problem(self) -> str | None:
        """A reason the store would refuse writes that a probe write does not show."""
        return None

    # --- life cycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and start the card writer. A database that is not reachable yet does not
        stop the service: the hook works unsuppressed, feedback gets 503, readiness says
        why, and the connection is retried."""
        try:
            await self._ensure_connected()
        except StoreUnavailable as exc:
            self._failed("open", exc)
        else:
            self._recovered()
            await self._maintain()
        self._batcher.start()

    async def _ensure_connected(self) -> None:
        if self._connected:
            return
        loop = asyncio.get_running_loop()
        if self._connect_error is not None and loop.time() < self._next_connect:
            # A new exception each time: re-raising one would grow its traceback forever.
            raise StoreUnavailable(self._connect_error.reason)
        self._next_connect = loop.time() + _RECONNECT_SECONDS
        try:
            await self._connect()
        except StoreUnavailable as exc:
            self._connect_error = exc
            raise
        self._connected, self._connect_error = True, None

    async def _transaction(self, steps: Sequence[Step], *, durable: bool) -> list[int]:
        await self._ensure_connected()
        return await self._run_transaction(steps, durable=durable)

    async def _read(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        await self._ensure_connected()
        return await self._run_read(sql, args)

    async def close(self) -> None:
        await self._batcher.stop()
        await self._disconnect()
        self._connected = False

    async def flush(self) -> None:
        """Write the queued issued cards now (tests, shutdown)."""
        await self._batcher.flush()

    # --- strict operations --------------------------------------------------------------------

    async def record_feedback(self, service_id: str, items: Sequence[Mapping[str, Any]]) -> int:
        """Store feedback items in one durable transaction; how many were new (retries are
        no-ops). Raises StoreUnavailable: nothing of this call was stored."""
        now = _timestamp(_now())
        rows = []
        keys = []
        for item in items:
            reason = (item.get("overrideReason") or {}).get("reason") or {}
            accepted = [s.get("id") for s in item.get("acceptedSuggestions") or []]
            key = dedupe_key(service_id, item)
            keys.append((key,))
            rows.append(
                (
                    key,
                    service_id,
                    str(item["card"]),
                    str(item["outcome"]),
                    reason.get("code"),
                    json.dumps(accepted),
                    str(item["outcomeTimestamp"]),
                    now,
                )
            )
        # The card this feedback is about may still be queued here: written first, it turns
        # into a suppression in this very transaction. (Queued in another process, the
        # suppression is derived when that process writes its batch.)
        if self.health.available:  # else it would only spend this request's wait
            await self._batcher.flush()
        try:
            counts = await self._transaction(
                [(schema.INSERT_FEEDBACK, rows), (schema.DERIVE_FOR_FEEDBACK, keys)], durable=True
            )
        except StoreUnavailable as exc:
            self.health.feedback_refused += 1
            self._failed("feedback", exc)
            raise
        self._recovered()
        # Counted per statement, not as a before/after difference: concurrent posts would
        # otherwise each claim the others' rows.
        return counts[0]

    async def probe(self) -> None:
        """Prove the database takes a write now; raises StoreUnavailable."""
        try:
            problem = await self._readiness_problem()
            if problem is not None:
                raise StoreUnavailable(problem)
            await self._transaction([(schema.PROBE, [(_timestamp(_now()),)])], durable=False)
        except StoreUnavailable as exc:
            self._failed("readiness probe", exc)
            raise
        self._recovered()

    async def count_feedback(self) -> int:
        rows = await self._read(schema.COUNT_FEEDBACK, [])
        return int(rows[0][0])

    async def purge(self) -> int:
        """Delete issued cards past their retention and expired suppressions."""
        now = _now()
        card_cutoff = _timestamp(now - timedelta(days=self.options.card_retention_days))
        suppression_cutoff = _timestamp(now - timedelta(days=self.options.suppress_days))
        counts = await self._transaction(
            [
                (schema.PURGE_CARDS, [(card_cutoff,)]),
                (schema.PURGE_SUPPRESSION, [(suppression_cutoff,)]),
            ],
            durable=False,
        )
        return sum(counts)

    async def write_cards(self, cards: Sequence[IssuedCard]) -> None:
        """Insert issued cards now, in one transaction; raises StoreUnavailable."""
        await self._write_cards(list(cards))

    async def _write_cards(self, cards: list[IssuedCard]) -> None:
        now = _timestamp(_now())
        await self._transaction(
            [
                (schema.INSERT_CARD, [(*card, now) for card in cards]),
                (schema.DERIVE_FOR_CARD, [(card[0],) for card in cards]),
            ],
            durable=False,
        )
        self._recovered()

    async def _maintain(self) -> None:
        try:
            await self.purge()
        except StoreUnavailable as exc:
            self._failed("purge", exc)

    # --- the hook's operations: never raise --------------------------------------------------

    async def record_cards(self, cards: Sequence[IssuedCard]) -> None:
        """Queue (card uuid, patient key, trial id, status) for every card returned; they
        are written within `flush_seconds`, off the request path."""
        self._batcher.add(cards)

    async def suppressed_status(
        self, patient: str, trial_id: str, codes: Sequence[str], days: int
    ) -> str | None:
        """Status of the card a clinician suppressed recently for this patient and trial;
        None also when the store cannot say in time (the card is shown)."""
        return (await self.suppressed_statuses(patient, [trial_id], codes, days)).get(trial_id)

    async def suppressed_statuses(
        self, patient: str, trial_ids: Sequence[str], codes: Sequence[str], days: int
    ) -> dict[str, str]:
        """`suppressed_status` for several trials in one lookup: trial → status of its
        latest suppressing override. Empty also when the store cannot say in time (the
        cards are shown)."""
        if days <= 0 or not codes or not trial_ids:
            return {}
        since = _timestamp(_now() - timedelta(days=days))
        try:
            async with asyncio.timeout(self.options.lookup_timeout):
                rows = await self._read(
                    schema.suppression_query(len(trial_ids), len(codes)),
                    [patient, *trial_ids, *codes, since],
                )
        except (StoreUnavailable, TimeoutError) as exc:
            self.health.lookups_failed += 1
            reason = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable("timeout")
            self._failed("suppression lookup", reason)
            return {}
        latest: dict[str, str] = {}
        for trial_id, status in rows:  # latest first: the first row per trial decides
            latest.setdefault(str(trial_id), str(status))
        return latest

    # --- health -----------------------------------------------------------------------------

    def _failed(self, operation: str, exc: StoreUnavailable) -> None:
        # Logged on the change only: a store that is down would otherwise log per request.
        if self.health.available or self.health.last_error != exc.reason:
            log.error("feedback store unavailable (%s): %s", operation, exc.reason)
        self.health.available = False
        self.health.last_error = exc.reason

    def _recovered(self) -> None:
        if not self.health.available:
            log.warning("feedback store available again")
        self.health.available = True
        self.health.last_error = None
