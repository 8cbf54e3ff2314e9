"""JWT `jti` replay cache: in-process by default, Redis shared by every replica.

A `jti` is remembered until the token could no longer pass the `exp` check (exp + leeway),
so a captured token cannot be used twice. The key is a hash of (iss, jti): two issuers may
pick the same `jti`, and a hash keeps attacker-chosen strings out of Redis key names.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from cds_hooks.settings import Settings

REDIS_KEY_PREFIX = "trial-cds:jti:"


class ReplayCache(Protocol):
    async def seen(self, jti: str, iss: str, expires_at: int) -> bool:
        """Atomically record (iss, jti) until `expires_at` (epoch seconds).

        True if it was already recorded, i.e. this is a replay.
        """
        ...


def _key(jti: str, iss: str) -> str:
    # NUL cannot occur in a JSON string we accepted as iss, so ("a", "b\0c") ≠ ("a\0b", "c").
    return hashlib.sha256(f"{iss}\0{jti}".encode()).hexdigest()


class MemoryReplayCache:
    """One process only: correct for a single replica (the default deployment)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._expiry: dict[str, int] = {}
        # (expires_at, key) in expiry order so purging is proportional to what expired.
        self._heap: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            expires_at, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]

    async def seen(self, jti: str, iss: str, expires_at: int) -> bool:
        # No await between the check and the insert, so this is atomic on the event loop.
        now = self._clock()
        self._purge(now)
        key = _key(jti, iss)
        if key in self._expiry:
            return True
        # An already-expired token is refused by the exp check anyway; keep it a moment so
        # the answer is still consistent if called twice.
        expires = max(int(expires_at), int(now) + 1)
        self._expiry[key] = expires
        heapq.heappush(self._heap, (expires, key))
        return False

    async def close(self) -> None:
        return None


class RedisReplayCache:
    """Shared by all replicas: `SET key 1 NX EX ttl` lets exactly one use of a jti win."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = REDIS_KEY_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock

    @classmethod
    def from_url(cls, url: str, *, prefix: str = REDIS_KEY_PREFIX) -> RedisReplayCache:
        """No connection is made until the first call (redis-py connects lazily)."""
        from redis.asyncio import Redis

        # Short timeouts: a hung Redis must fail the request (401, logged) not hang it.
        client = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return cls(client, prefix=prefix)

    async def seen(self, jti: str, iss: str, expires_at: int) -> bool:
        ttl = max(1, int(expires_at - self._clock()) + 1)
        created = await self._client.set(self._prefix + _key(jti, iss), b"1", nx=True, ex=ttl)
        # redis-py returns True when the key was set, None when it already existed.
        return not created

    async def close(self) -> None:
        await self._client.aclose()


def make_replay_cache(settings: Settings) -> MemoryReplayCache | RedisReplayCache:
    """Redis when `REDIS_URL` is set (several replicas), else in-process."""
    if settings.redis_url:
        return RedisReplayCache.from_url(settings.redis_url)
    return MemoryReplayCache()
