"""Issued cards are written in batches by one background task, off the request path.

The hook only appends to a list. A batch that fails stays queued and is retried on the
next tick; while the store is down at most `max_pending` cards wait, the oldest dropped
first (counted). A card lost that way only means feedback on it cannot suppress the next
card; a feedback POST itself is never queued (it is written before its 200).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cds_hooks.feedback.health import StoreHealth, StoreUnavailable

log = logging.getLogger("trial_cds.store")
Write = Callable[[list[Any]], Awaitable[None]]
# Written at most this many at a time: one transaction stays short.
_BATCH = 500


class CardBatcher:
    def __init__(
        self,
        write: Write,
        *,
        interval: float,
        max_pending: int,
        health: StoreHealth,
        on_failure: Callable[[str, StoreUnavailable], None],
        maintenance: Callable[[], Awaitable[None]],
        maintenance_every: float,
    ) -> None:
        self._write = write
        self._interval = interval
        self._pending: deque[Any] = deque()
        self._max_pending = max_pending
        self._health = health
        self._on_failure = on_failure
        self._maintenance = maintenance
        self._maintenance_every = maintenance_every
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, cards: Sequence[Any]) -> None:
        if not cards:
            return
        self._pending.extend(cards)
        overflow = len(self._pending) - self._max_pending
        if overflow > 0:
            for _ in range(overflow):
                self._pending.popleft()
            self._health.cards_dropped += overflow
        self._health.cards_pending = len(self._pending)
        if len(self._pending) >= _BATCH:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="issued-card-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()  # what is still queued at shutdown, once

    async def flush(self) -> None:
        """Write everything queued; a failed batch stays queued (and stops this flush)."""
        async with self._lock:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(_BATCH, len(self._pending)))]
                try:
                    await self._write(batch)
                except StoreUnavailable as exc:
                    self._pending.extendleft(reversed(batch))
                    self._health.card_batches_failed += 1
                    self._on_failure("issued cards", exc)
                    break
                finally:
                    self._health.cards_pending = len(self._pending)
                self._health.cards_written += len(batch)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_maintenance = loop.time() + self._maintenance_every
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
                if loop.time() >= next_maintenance:
                    next_maintenance = loop.time() + self._maintenance_every
                    await self._maintenance()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the writer must outlive any one bad batch
                log.error("issued-card writer: unexpected %s", type(exc).__name__)
