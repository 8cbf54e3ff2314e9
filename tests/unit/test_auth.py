"""Auth configuration, header checks that refuse before any key fetch, and the in-process
replay cache. Signature and JWKS behaviour against a real HTTP server:
tests/integration/test_auth_jwks.py."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_hooks.auth import (
    Authenticator,
    AuthError,
    audience,
    auth_required,
    parse_algorithms,
)
from cds_hooks.issuers import TrustedIssuer, parse_trusted_issuers
from cds_hooks.replay import MemoryReplayCache, RedisReplayCache, make_replay_cache
from cds_hooks.settings import Settings

ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services/trial-screening"
ISSUERS_JSON = json.dumps(
    {
        ISS: {
            "jwks_url": "https://ehr.example.org/.well-known/jwks.json",
            "jku_allowlist": ["https://ehr.example.org/keys.json"],
            "fhir_servers": ["https://ehr.example.org/fhir/r4"],
        }
    }
)

# -- trusted issuers ---------------------------------------------------------------------


def test_parse_trusted_issuers_from_json_text() -> None:
    issuers = parse_trusted_issuers(ISSUERS_JSON)
    assert issuers == {
        ISS: TrustedIssuer(
            iss=ISS,
            jwks_url="https://ehr.example.org/.well-known/jwks.json",
            jku_allowlist=("https://ehr.example.org/keys.json",),
            fhir_servers=("https://ehr.example.org/fhir/r4",),
        )
    }


def test_parse_trusted_issuers_from_file(tmp_path: Path) -> None:
    path = tmp_path / "issuers.json"
    path.write_text(ISSUERS_JSON, encoding="utf-8")
    assert parse_trusted_issuers(str(path)) == parse_trusted_issuers(ISSUERS_JSON)


def test_empty_config_means_no_issuer() -> None:
    assert parse_trusted_issuers("") == {}
    assert parse_trusted_issuers("   ") == {}


def test_jku_only_issuer_is_allowed() -> None:
    issuers = parse_trusted_issuers(json.dumps({ISS: {"jku_allowlist": ["https://e/k.json"]}}))
    assert issuers[ISS].jwks_url == ""
    assert issuers[ISS].fhir_servers == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/nonexistent/issuers.json", "neither JSON nor a readable file"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object keyed by issuer"),
        ('{"https://e": []}', "must be an object"),
        ('{"": {"jwks_url": "https://e/k"}}', "empty issuer"),
        ('{"https://e": {"jwks_uri": "https://e/k"}}', "unknown member"),
        ('{"https://e": {}}', "needs a jwks_url or a non-empty jku_allowlist"),
        ('{"https://e": {"jwks_url": "http://e.example.org/k"}}', "must use https"),
        ('{"https://e": {"jwks_url": "ftp://e.example.org/k"}}', "absolute https URL"),
        ('{"https://e": {"jwks_url": "https://u:p@e.example.org/k"}}', "credentials"),
        ('{"https://e": {"jwks_url": "https://e/k", "jku_allowlist": "https://e/k"}}', "list"),
        ('{"https://e": {"jwks_url": "https://e/k", "fhir_servers": ["file:///x"]}}', "http(s)"),
        ('{"https://e": {"jwks_url": "https://e/k", "fhir_servers": ["https://e/f?x"]}}', "query"),
    ],
)
def test_bad_issuer_config_is_a_clear_error(value: str, message: str) -> None:
    with pytest.raises(ValueError, match="CDS_TRUSTED_ISSUERS") as info:
        parse_trusted_issuers(value)
    assert message in str(info.value)


def test_loopback_http_jwks_is_allowed_for_a_local_key_service() -> None:
    issuers = parse_trusted_issuers(json.dumps({ISS: {"jwks_url": "http://127.0.0.1:9/k"}}))
    assert issuers[ISS].jwks_url == "http://127.0.0.1:9/k"


# -- algorithms and settings helpers ---------------------------------------------------


def test_default_algorithms() -> None:
    assert parse_algorithms(Settings().jwt_algorithms) == ("RS384", "ES384")


@pytest.mark.parametrize("value", ["none", "HS256", "RS384,HS384", "RS384, hs512", "", "RSA1_5"])
def test_symmetric_none_or_unknown_algorithms_cannot_be_configured(value: str) -> None:
    with pytest.raises(ValueError, match="CDS_JWT_ALGORITHMS"):
        parse_algorithms(value)


def test_authenticator_refuses_bad_algorithm_config_at_start_up() -> None:
    settings = Settings(CDS_JWT_ALGORITHMS="RS384,HS256", CDS_TRUSTED_ISSUERS=ISSUERS_JSON)
    with pytest.raises(ValueError, match="HS256"):
        Authenticator(settings, httpx.AsyncClient(), MemoryReplayCache())


def test_authenticator_refuses_bad_issuer_config_at_start_up() -> None:
    settings = Settings(CDS_TRUSTED_ISSUERS='{"https://e": {"jwks_uri": "x"}}')
    with pytest.raises(ValueError, match="unknown member"):
        Authenticator(settings, httpx.AsyncClient(), MemoryReplayCache())


def test_auth_required_unless_dev_mode() -> None:
    assert auth_required(Settings(CDS_DEV_MODE=False)) is True
    assert auth_required(Settings(CDS_DEV_MODE=True)) is False


def test_audience_is_the_endpoint_url() -> None:
    settings = Settings(CDS_PUBLIC_URL="https://cds.example.org/")
    assert audience(settings) == "https://cds.example.org/cds-services"
    assert audience(settings, "trial-screening") == AUD


# -- refusals that happen before any key is fetched ----------------------------------------


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"sig") -> str:
    return f"{_b64(header)}.{_b64(claims)}.{_b64(signature)}"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": "j1"}
    claims.update(overrides)
    return claims


class _NoNetwork(httpx.AsyncBaseTransport):
    """Counts requests and answers 599: these checks must refuse before fetching keys."""

    def __init__(self) -> None:
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return httpx.Response(599)


async def _refused(settings: Settings, authorization: str | None) -> tuple[str, int]:
    transport = _NoNetwork()
    async with httpx.AsyncClient(transport=transport) as http:
        auth = Authenticator(settings, http, MemoryReplayCache())
        with pytest.raises(AuthError) as info:
            await auth.verify(authorization, AUD)
    return info.value.reason, transport.requests


TRUSTING = Settings(CDS_TRUSTED_ISSUERS=ISSUERS_JSON)
HEADER = {"alg": "RS384", "typ": "JWT", "kid": "k1"}


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "no Authorization header"),
        ("", "no Authorization header"),
        ("Basic dXNlcjpwdw==", "not a Bearer token"),
        ("Bearer ", "not a Bearer token"),
        ("Bearer not-a-jwt", "not a compact JWS"),
        ("Bearer a.b.c.d.e", "not a compact JWS"),
        ("Bearer " + "a" * 20_000 + ".b.c", "too large"),
        ("Bearer !!!.???.sig", "not a compact JWS"),
        ("Bearer e30.bm90IGpzb24.c2ln", "not base64url JSON"),
        ("Bearer " + _unsigned({"alg": "none"}, _claims()), "alg not allowed"),
        ("Bearer " + _unsigned({"alg": "None"}, _claims()), "alg not allowed"),
        ("Bearer " + _unsigned({"alg": "HS256", "kid": "k1"}, _claims()), "alg not allowed"),
        ("Bearer " + _unsigned({"alg": "HS384", "kid": "k1"}, _claims()), "alg not allowed"),
        ("Bearer " + _unsigned({"alg": "RS256", "kid": "k1"}, _claims()), "alg not allowed"),
        ("Bearer " + _unsigned({"kid": "k1"}, _claims()), "alg not allowed"),
        ("Bearer " + _unsigned({**HEADER, "typ": "JWE"}, _claims()), "typ is not JWT"),
        ("Bearer " + _unsigned({"alg": "RS384"}, _claims()), "kid missing"),
        ("Bearer " + _unsigned({**HEADER, "crit": ["exp"]}, _claims()), "crit header not"),
        ("Bearer " + _unsigned({**HEADER, "crit": None}, _claims()), "crit header not"),
        ("Bearer " + _unsigned(HEADER, _claims(iss="https://evil.example")), "not trusted"),
        ("Bearer " + _unsigned(HEADER, _claims(iss=None)), "not trusted"),
        ("Bearer " + _unsigned(HEADER, _claims(iss=[ISS])), "not trusted"),
        (
            "Bearer " + _unsigned({**HEADER, "jku": "https://evil.example/jwks"}, _claims()),
            "jku not on the issuer's allowlist",
        ),
        (
            "Bearer "
            + _unsigned({**HEADER, "jku": "https://ehr.example.org/keys.json/x"}, _claims()),
            "jku not on the issuer's allowlist",
        ),
    ],
)
async def test_refused_without_fetching_keys(authorization: str | None, reason: str) -> None:
    got, requests = await _refused(TRUSTING, authorization)
    assert reason in got
    assert requests == 0


async def test_no_trusted_issuer_refuses_every_token() -> None:
    got, requests = await _refused(Settings(), "Bearer " + _unsigned(HEADER, _claims()))
    assert got == "no trusted issuer is configured"
    assert requests == 0


async def test_reason_never_contains_the_token() -> None:
    token = _unsigned(HEADER, _claims(iss="https://evil.example"))
    got, _ = await _refused(TRUSTING, "Bearer " + token)
    assert token not in got
    assert "evil" not in got


async def test_unreachable_jwks_is_refused_and_not_hammered() -> None:
    transport = _NoNetwork()
    async with httpx.AsyncClient(transport=transport) as http:
        auth = Authenticator(TRUSTING, http, MemoryReplayCache())
        for _ in range(5):
            with pytest.raises(AuthError, match="JWKS unavailable"):
                await auth.verify("Bearer " + _unsigned(HEADER, _claims()), AUD)
    # One attempt; later calls inside JWKS_MIN_REFRESH_SECONDS reuse the failure.
    assert transport.requests == 1


# -- in-process replay cache ---------------------------------------------------------------


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_memory_replay_cache_records_and_expires() -> None:
    clock = _Clock(1000.0)
    cache = MemoryReplayCache(clock=clock)
    assert await cache.seen("j1", ISS, expires_at=1100) is False
    assert await cache.seen("j1", ISS, expires_at=1100) is True
    # Same jti from another issuer is a different token.
    assert await cache.seen("j1", "https://other", expires_at=1100) is False
    clock.now = 1099.0
    assert await cache.seen("j1", ISS, expires_at=1100) is True
    clock.now = 1100.0
    # Past expiry the token fails the exp check anyway; the entry is purged.
    assert await cache.seen("j2", ISS, expires_at=1200) is False
    assert len(cache) == 1  # both j1 entries expired at 1100 and were purged
    assert await cache.seen("j1", ISS, expires_at=1200) is False


async def test_memory_replay_cache_does_not_grow_without_bound() -> None:
    clock = _Clock(0.0)
    cache = MemoryReplayCache(clock=clock)
    for i in range(1000):
        await cache.seen(f"j{i}", ISS, expires_at=10)
    assert len(cache) == 1000
    clock.now = 11.0
    await cache.seen("late", ISS, expires_at=20)
    assert len(cache) == 1


async def test_iss_and_jti_cannot_be_shifted_into_each_other() -> None:
    cache = MemoryReplayCache()
    far = int(time.time()) + 300
    assert await cache.seen("b:c", "a", far) is False
    assert await cache.seen("c", "a:b", far) is False


def test_make_replay_cache_follows_redis_url() -> None:
    assert isinstance(make_replay_cache(Settings()), MemoryReplayCache)
    cache = make_replay_cache(Settings(REDIS_URL="redis://127.0.0.1:1/0"))
    assert isinstance(cache, RedisReplayCache)
