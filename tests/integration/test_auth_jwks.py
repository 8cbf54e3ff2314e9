"""CDS client JWT verification against JWK Sets served by a real local HTTP server.

Keys are generated here (RSA 2048 for RS384, EC P-384 for ES384); the server is
`http.server` on 127.0.0.1 in a thread, and counts every fetch so the tests can show when
keys are (and are not) fetched.

Time is frozen: tokens are minted at NOW and every Authenticator and replay cache here reads
`clock` (NOW) and a FakeMonotonic, so no check depends on how long the test takes or when
it runs (a token minted at second t and checked at t+1 would otherwise move exp/iat edges).
Only the JWKS fetches are real I/O; each test awaits them, nothing waits on a timer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeySet, RSAKey
from joserfc.jws import JWSRegistry

from cds_hooks.auth import (
    JWKS_MAX_AGE_SECONDS,
    JWKS_MIN_REFRESH_SECONDS,
    Authenticator,
    AuthError,
    Claims,
)
from cds_hooks.replay import MemoryReplayCache
from cds_hooks.settings import Settings

pytestmark = pytest.mark.integration

ISS = "https://ehr.example.org"
OTHER_ISS = "https://other-ehr.example.org"
AUD = "https://cds.example.org/cds-services/trial-screening"

RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
EC_KEY = ECKey.generate_key("P-384", parameters={"kid": "ec-1"})
# The attacker's key, published nowhere, but claiming the trusted kid.
FORGER_KEY = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
ROTATED_KEY = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})
JKU_KEY = ECKey.generate_key("P-384", parameters={"kid": "jku-1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "other-1"})


def _jwks(*keys: Key) -> bytes:
    return json.dumps(KeySet(list(keys)).as_dict(private=False)).encode()


class JwksServer:
    """Serves `documents[path] = (status, body, headers)` and counts hits per path."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.hits: Counter[str] = Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits[self.path] += 1
                status, body, headers = owner.documents.get(self.path, (404, b"{}", {}))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, body: bytes, status: int = 200, **headers: str) -> None:
        self.documents[path] = (status, body, headers)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[JwksServer]:
    srv = JwksServer()
    yield srv
    srv.close()


@pytest.fixture
def jwks(server: JwksServer) -> JwksServer:
    server.documents.clear()
    server.hits.clear()
    server.serve("/jwks.json", _jwks(RSA_KEY, EC_KEY))
    server.serve("/jku/jwks.json", _jwks(JKU_KEY))
    server.serve("/evil/jwks.json", _jwks(FORGER_KEY))
    server.serve("/other/jwks.json", _jwks(OTHER_KEY))
    return server


NOW = 1_772_445_600  # 2026-03-02T10:00:00Z


def clock() -> float:
    """The wall clock of every Authenticator and replay cache in this module."""
    return float(NOW)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


def _settings(server: JwksServer, **overrides: Any) -> Settings:
    issuers = {
        ISS: {
            "jwks_url": server.url("/jwks.json"),
            "jku_allowlist": [server.url("/jku/jwks.json")],
        },
        OTHER_ISS: {"jwks_url": server.url("/other/jwks.json")},
    }
    values: dict[str, Any] = {"CDS_TRUSTED_ISSUERS": json.dumps(issuers), "CDS_DEV_MODE": False}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def auth(jwks: JwksServer, http: httpx.AsyncClient, monotonic: FakeMonotonic) -> Authenticator:
    return Authenticator(
        _settings(jwks), http, MemoryReplayCache(clock), clock=clock, monotonic=monotonic
    )


_ABSENT: Any = object()


def token(key: Key, alg: str, header: dict[str, Any] | None = None, **claims: Any) -> str:
    now = NOW
    body: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not _ABSENT}
    head = {"alg": alg, "kid": key.kid, "typ": "JWT", **(header or {})}
    return jwt.encode(head, body, key, algorithms=[alg])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hand_made(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _fresh_claims() -> dict[str, Any]:
    now = NOW
    return {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex}


async def refused(auth: Authenticator, jwt_text: str, audience: str = AUD) -> str:
    with pytest.raises(AuthError) as info:
        await auth.verify(f"Bearer {jwt_text}", audience)
    return info.value.reason


# -- accepted ------------------------------------------------------------------------------


async def test_valid_rs384_and_es384_tokens_are_accepted(
    auth: Authenticator, jwks: JwksServer
) -> None:
    rs = token(RSA_KEY, "RS384", tenant="hospital-1", sub="ehr-client")
    claims = await auth.verify(f"Bearer {rs}", AUD)
    assert isinstance(claims, Claims)
    assert (claims.iss, claims.aud, claims.tenant, claims.sub) == (
        ISS,
        AUD,
        "hospital-1",
        "ehr-client",
    )
    es = token(EC_KEY, "ES384")
    assert (await auth.verify(f"Bearer {es}", AUD)).iss == ISS
    # One fetch served both: the JWK Set is cached.
    assert jwks.hits["/jwks.json"] == 1


async def test_aud_may_be_a_list_containing_the_endpoint(auth: Authenticator) -> None:
    ok = token(RSA_KEY, "RS384", aud=["https://elsewhere.example", AUD])
    assert (await auth.verify(f"Bearer {ok}", AUD)).aud == AUD
    bad = token(RSA_KEY, "RS384", aud=["https://elsewhere.example"])
    assert "aud" in await refused(auth, bad)


async def test_clock_skew_within_leeway_is_tolerated(auth: Authenticator) -> None:
    now = NOW
    # Default leeway is 30 s.
    ok = token(RSA_KEY, "RS384", exp=now - 10, iat=now + 10)
    assert (await auth.verify(f"Bearer {ok}", AUD)).exp == now - 10


async def test_lowercase_bearer_scheme_is_accepted(auth: Authenticator) -> None:
    assert await auth.verify("bearer " + token(RSA_KEY, "RS384"), AUD)


# -- refused -------------------------------------------------------------------------------


async def test_forged_signature_with_the_trusted_kid_is_refused(auth: Authenticator) -> None:
    forged = token(FORGER_KEY, "RS384")
    assert "signature invalid" in await refused(auth, forged)


async def test_tampered_payload_is_refused(auth: Authenticator) -> None:
    head, _, sig = token(RSA_KEY, "RS384").split(".")
    other_claims = _b64(json.dumps({**_fresh_claims(), "tenant": "x"}).encode())
    assert "signature invalid" in await refused(auth, f"{head}.{other_claims}.{sig}")


@pytest.mark.parametrize(
    "aud",
    [
        "https://cds.example.org/cds-services/other-service",
        "https://cds.example.org/cds-services",
        AUD + "/",
        AUD.upper(),
        "https://evil.example/cds-services/trial-screening",
    ],
)
async def test_wrong_aud_is_refused(auth: Authenticator, aud: str) -> None:
    assert await refused(auth, token(RSA_KEY, "RS384", aud=aud)) == "claim invalid: aud"


async def test_expired_token_is_refused(auth: Authenticator) -> None:
    now = NOW
    expired = token(RSA_KEY, "RS384", exp=now - 60, iat=now - 360)
    assert await refused(auth, expired) == "token expired"


async def test_iat_in_the_future_is_refused(auth: Authenticator) -> None:
    now = NOW
    early = token(RSA_KEY, "RS384", iat=now + 120, exp=now + 300)
    assert await refused(auth, early) == "claim invalid: iat"


async def test_far_future_exp_is_refused(auth: Authenticator) -> None:
    now = NOW
    assert "too far" in await refused(auth, token(RSA_KEY, "RS384", exp=now + 30 * 86400))


async def test_replayed_jti_is_refused(auth: Authenticator) -> None:
    once = token(RSA_KEY, "RS384")
    await auth.verify(f"Bearer {once}", AUD)
    assert "replay" in await refused(auth, once)
    # A fresh token with a new jti is fine.
    assert await auth.verify(f"Bearer {token(RSA_KEY, 'RS384')}", AUD)


async def test_same_jti_in_a_new_token_is_still_a_replay(auth: Authenticator) -> None:
    await auth.verify(f"Bearer {token(RSA_KEY, 'RS384', jti='fixed')}", AUD)
    assert "replay" in await refused(auth, token(EC_KEY, "ES384", jti="fixed"))


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        ("jti", "required claim missing: jti"),
        ("exp", "required claim missing: exp"),
        ("iat", "required claim missing: iat"),
        ("aud", "required claim missing: aud"),
    ],
)
async def test_missing_required_claim_is_refused(
    auth: Authenticator, missing: str, reason: str
) -> None:
    assert await refused(auth, token(RSA_KEY, "RS384", **{missing: _ABSENT})) == reason


async def test_empty_jti_is_refused(auth: Authenticator) -> None:
    assert await refused(auth, token(RSA_KEY, "RS384", jti="")) == "claim invalid: jti"


async def test_alg_none_is_refused_without_fetching_keys(
    auth: Authenticator, jwks: JwksServer
) -> None:
    unsigned = _hand_made({"alg": "none", "kid": "rsa-1", "typ": "JWT"}, _fresh_claims(), None)
    assert await refused(auth, unsigned) == "alg not allowed"
    assert sum(jwks.hits.values()) == 0


async def test_hs256_signed_with_the_public_key_is_refused(
    auth: Authenticator, jwks: JwksServer
) -> None:
    # Classic key confusion: HMAC keyed with the RSA public key that anyone can download.
    public_pem = RSA_KEY.as_pem(private=False)
    confused = _hand_made(
        {"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, _fresh_claims(), public_pem
    )
    assert await refused(auth, confused) == "alg not allowed"
    assert sum(jwks.hits.values()) == 0


async def test_alg_not_matching_the_key_type_is_refused(auth: Authenticator) -> None:
    # ES384 is allowed, but kid rsa-1 is an RSA key: never try it with another algorithm.
    head = {"alg": "ES384", "kid": "rsa-1", "typ": "JWT"}
    wrong = jwt.encode(head, _fresh_claims(), EC_KEY, algorithms=["ES384"])
    assert await refused(auth, wrong) == "no usable key for kid in the JWKS"


async def test_unknown_issuer_is_refused_without_fetching_keys(
    auth: Authenticator, jwks: JwksServer
) -> None:
    stranger = token(RSA_KEY, "RS384", iss="https://unknown-ehr.example")
    assert await refused(auth, stranger) == "issuer not trusted"
    assert sum(jwks.hits.values()) == 0


async def test_a_trusted_issuer_cannot_sign_for_another(auth: Authenticator) -> None:
    # Signed with ISS's key, claiming OTHER_ISS: only OTHER_ISS's JWK Set is consulted.
    impostor = token(RSA_KEY, "RS384", iss=OTHER_ISS)
    assert await refused(auth, impostor) == "no usable key for kid in the JWKS"
    own = token(OTHER_KEY, "RS384", iss=OTHER_ISS)
    assert (await auth.verify(f"Bearer {own}", AUD)).iss == OTHER_ISS


async def test_no_trusted_issuer_configured_refuses_everything(
    jwks: JwksServer, http: httpx.AsyncClient
) -> None:
    settings = _settings(jwks, CDS_TRUSTED_ISSUERS="")
    auth = Authenticator(settings, http, MemoryReplayCache(clock), clock=clock)
    assert await refused(auth, token(RSA_KEY, "RS384")) == "no trusted issuer is configured"
    assert sum(jwks.hits.values()) == 0


# -- jku -----------------------------------------------------------------------------------


async def test_jku_off_the_allowlist_is_refused_and_not_fetched(
    auth: Authenticator, jwks: JwksServer
) -> None:
    evil = token(FORGER_KEY, "RS384", header={"jku": jwks.url("/evil/jwks.json")})
    assert await refused(auth, evil) == "jku not on the issuer's allowlist"
    assert jwks.hits["/evil/jwks.json"] == 0


async def test_jku_on_the_allowlist_is_used(auth: Authenticator, jwks: JwksServer) -> None:
    ok = token(JKU_KEY, "ES384", header={"jku": jwks.url("/jku/jwks.json")})
    assert (await auth.verify(f"Bearer {ok}", AUD)).iss == ISS
    assert jwks.hits["/jku/jwks.json"] == 1
    assert jwks.hits["/jwks.json"] == 0


async def test_allowlisted_jku_of_another_issuer_is_refused(
    auth: Authenticator, jwks: JwksServer
) -> None:
    # OTHER_ISS has no jku allowlist; ISS's allowlisted URL does not apply to it.
    borrowed = token(JKU_KEY, "ES384", header={"jku": jwks.url("/jku/jwks.json")}, iss=OTHER_ISS)
    assert await refused(auth, borrowed) == "jku not on the issuer's allowlist"


# -- JWKS caching, rotation and rate limiting ------------------------------------------------


async def test_key_rotation_unknown_kid_triggers_one_refresh(
    auth: Authenticator, jwks: JwksServer, monotonic: FakeMonotonic
) -> None:
    await auth.verify(f"Bearer {token(RSA_KEY, 'RS384')}", AUD)
    assert jwks.hits["/jwks.json"] == 1
    monotonic.now += JWKS_MIN_REFRESH_SECONDS + 1
    jwks.serve("/jwks.json", _jwks(RSA_KEY, ROTATED_KEY))
    rotated = token(ROTATED_KEY, "RS384")
    assert (await auth.verify(f"Bearer {rotated}", AUD)).iss == ISS
    assert jwks.hits["/jwks.json"] == 2
    # The new key is now cached: no further fetch.
    await auth.verify(f"Bearer {token(ROTATED_KEY, 'RS384')}", AUD)
    assert jwks.hits["/jwks.json"] == 2


async def test_random_kids_cannot_make_us_hammer_the_jwks(
    auth: Authenticator, jwks: JwksServer, monotonic: FakeMonotonic
) -> None:
    await auth.verify(f"Bearer {token(RSA_KEY, 'RS384')}", AUD)
    for i in range(20):
        monotonic.now += 1
        head = {"alg": "RS384", "kid": f"random-{i}", "typ": "JWT"}
        signed = jwt.encode(head, _fresh_claims(), FORGER_KEY, algorithms=["RS384"])
        assert await refused(auth, signed) == "no usable key for kid in the JWKS"
    # 20 unknown kids within a minute of the first fetch: no refetch at all.
    assert jwks.hits["/jwks.json"] == 1
    monotonic.now += JWKS_MIN_REFRESH_SECONDS
    head = {"alg": "RS384", "kid": "random-late", "typ": "JWT"}
    for _ in range(5):
        late = jwt.encode(head, _fresh_claims(), FORGER_KEY, algorithms=["RS384"])
        await refused(auth, late)
    # Once the interval has passed: exactly one more fetch.
    assert jwks.hits["/jwks.json"] == 2


async def test_withdrawn_key_stops_working_after_max_age(
    auth: Authenticator, jwks: JwksServer, monotonic: FakeMonotonic
) -> None:
    await auth.verify(f"Bearer {token(RSA_KEY, 'RS384')}", AUD)
    jwks.serve("/jwks.json", _jwks(ROTATED_KEY))
    monotonic.now += JWKS_MAX_AGE_SECONDS + 1
    assert await refused(auth, token(RSA_KEY, "RS384")) == "no usable key for kid in the JWKS"
    assert jwks.hits["/jwks.json"] == 2


async def test_concurrent_first_calls_fetch_the_jwks_once(
    auth: Authenticator, jwks: JwksServer
) -> None:
    tokens = [token(RSA_KEY, "RS384") for _ in range(10)]
    # Waits for all ten; they start before the first fetch can answer (one event-loop turn),
    # so a single fetch serving them all is the Authenticator's doing, not luck.
    results = await asyncio.gather(*(auth.verify(f"Bearer {t}", AUD) for t in tokens))
    assert len({c.jti for c in results}) == 10
    assert jwks.hits["/jwks.json"] == 1


async def test_jwks_server_error_is_refused_and_retried_only_after_the_interval(
    auth: Authenticator, jwks: JwksServer, monotonic: FakeMonotonic
) -> None:
    jwks.serve("/jwks.json", b'{"error": "down"}', status=500)
    for _ in range(3):
        assert await refused(auth, token(RSA_KEY, "RS384")) == "JWKS unavailable"
    assert jwks.hits["/jwks.json"] == 1
    jwks.serve("/jwks.json", _jwks(RSA_KEY))
    monotonic.now += JWKS_MIN_REFRESH_SECONDS + 1
    assert await auth.verify(f"Bearer {token(RSA_KEY, 'RS384')}", AUD)
    assert jwks.hits["/jwks.json"] == 2


async def test_jwks_redirect_is_not_followed(
    jwks: JwksServer, http: httpx.AsyncClient, monotonic: FakeMonotonic
) -> None:
    jwks.serve("/jwks.json", b"", status=302, Location=jwks.url("/evil/jwks.json"))
    auth = Authenticator(
        _settings(jwks), http, MemoryReplayCache(clock), clock=clock, monotonic=monotonic
    )
    assert await refused(auth, token(FORGER_KEY, "RS384")) == "JWKS unavailable"
    assert jwks.hits["/evil/jwks.json"] == 0


async def test_symmetric_key_in_the_jwks_is_never_used(
    jwks: JwksServer, http: httpx.AsyncClient
) -> None:
    secret = b"shared-secret-that-must-not-count"
    oct_jwk = {"kty": "oct", "kid": "rsa-1", "k": _b64(secret)}
    jwks.serve("/jwks.json", json.dumps({"keys": [oct_jwk]}).encode())
    settings = _settings(jwks, CDS_JWT_ALGORITHMS="RS384")
    auth = Authenticator(settings, http, MemoryReplayCache(clock), clock=clock)
    assert await refused(auth, token(RSA_KEY, "RS384")) == "JWKS unavailable"


# -- property: arbitrary tokens never get through, and never raise anything but AuthError ----

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_now = NOW


def _mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `valid`, so tokens get past the early checks often enough. (Hypothesis favours
    boundary integers, so the rare branch is a middle value.)"""
    return st.integers(0, 9).flatmap(lambda n: other if n in (3, 6) else valid)


_junk_or_absent = st.just(_ABSENT) | _json
_times = _mostly(st.integers(min_value=_now - 7200, max_value=_now + 7200), _junk_or_absent)
_headers = st.fixed_dictionaries(
    {
        "alg": _mostly(
            st.sampled_from(["RS384", "ES384"]), st.sampled_from(["none", "HS256"]) | _json
        ),
        "kid": _mostly(st.sampled_from(["rsa-1", "ec-1", "jku-1"]), _junk_or_absent),
        "typ": _mostly(st.just("JWT"), st.sampled_from(["jwt", "JOSE"]) | _junk_or_absent),
        "jku": _mostly(
            st.just(_ABSENT), st.sampled_from(["/jku/jwks.json", "/evil/jwks.json"]) | _json
        ),
        "crit": _mostly(st.just(_ABSENT), _json),
    }
).map(lambda d: {k: v for k, v in d.items() if v is not _ABSENT})
_payloads = st.fixed_dictionaries(
    {
        "iss": _mostly(
            st.sampled_from([ISS, OTHER_ISS]), st.just("https://unknown") | _junk_or_absent
        ),
        "aud": _mostly(
            st.sampled_from([AUD, [AUD], [AUD, "x"]]), st.just(AUD + "/") | _junk_or_absent
        ),
        "exp": _times,
        "iat": _times,
        "nbf": _mostly(st.just(_ABSENT), _times),
        "jti": _mostly(st.uuids().map(str), _junk_or_absent),
        "tenant": _mostly(st.just(_ABSENT), _json),
        "sub": _mostly(st.just(_ABSENT), _json),
    }
).map(lambda d: {k: v for k, v in d.items() if v is not _ABSENT})
_SIGNERS = {
    ("RS384", "rsa-1"): RSA_KEY,
    ("ES384", "ec-1"): EC_KEY,
    ("ES384", "jku-1"): JKU_KEY,
    ("RS384", "other-1"): OTHER_KEY,
}


def _signed(header: dict[str, Any], payload: dict[str, Any], garbage: bytes, sign: bool) -> str:
    def part(value: Any) -> str:
        return _b64(json.dumps(value).encode())

    signing_input = f"{part(header)}.{part(payload)}"
    alg, kid = header.get("alg"), header.get("kid")
    key = _SIGNERS.get((alg, kid)) if isinstance(alg, str) and isinstance(kid, str) else None
    if sign and key is not None:
        # A genuine signature by a trusted key: only the claims can stop this token.
        signature = JWSRegistry.algorithms[header["alg"]].sign(signing_input.encode(), key)
    else:
        signature = garbage
    return f"{signing_input}.{_b64(signature)}"


@hypothesis.settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    header=_headers,
    payload=_payloads,
    garbage=st.binary(max_size=600),
    sign=_mostly(st.just(True), st.just(False)),
)
def test_arbitrary_tokens_are_refused_cleanly_or_fully_valid(
    server: JwksServer,
    header: dict[str, Any],
    payload: dict[str, Any],
    garbage: bytes,
    sign: bool,
) -> None:
    server.serve("/jwks.json", _jwks(RSA_KEY, EC_KEY))
    server.serve("/jku/jwks.json", _jwks(JKU_KEY))
    server.serve("/evil/jwks.json", _jwks(FORGER_KEY))
    server.serve("/other/jwks.json", _jwks(OTHER_KEY))
    if isinstance(header.get("jku"), str) and header["jku"].startswith("/"):
        header = {**header, "jku": server.url(header["jku"])}
    jwt_text = _signed(header, payload, garbage, sign)

    async def attempt() -> Claims | AuthError:
        async with httpx.AsyncClient() as client:
            auth = Authenticator(_settings(server), client, MemoryReplayCache(clock), clock=clock)
            try:
                return await auth.verify(f"Bearer {jwt_text}", AUD)
            except AuthError as error:
                return error

    outcome = asyncio.run(attempt())  # anything other than AuthError propagates and fails
    hypothesis.event(outcome.reason if isinstance(outcome, AuthError) else "accepted")
    if isinstance(outcome, Claims):
        now = NOW
        assert header["alg"] in ("RS384", "ES384")
        assert sign
        assert outcome.iss == payload["iss"] == ISS
        assert payload["aud"] == AUD or AUD in payload["aud"]
        assert payload["exp"] > now - 30
        assert payload["exp"] <= now + 3600 + 30
        assert payload["iat"] <= now + 30
        assert isinstance(payload["jti"], str)
        assert payload["jti"]


@hypothesis.settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(payload=_payloads, iss=_mostly(st.just(ISS), _json))
def test_genuinely_signed_tokens_pass_only_with_valid_claims(
    server: JwksServer, payload: dict[str, Any], iss: Any
) -> None:
    # The signature is always good here, so only the claim checks stand in the way.
    server.serve("/jwks.json", _jwks(RSA_KEY, EC_KEY))
    payload = {**payload, "iss": iss} if iss is not _ABSENT else payload
    jwt_text = _signed({"alg": "RS384", "kid": "rsa-1", "typ": "JWT"}, payload, b"", True)

    async def attempt() -> Claims | AuthError:
        async with httpx.AsyncClient() as client:
            auth = Authenticator(_settings(server), client, MemoryReplayCache(clock), clock=clock)
            try:
                return await auth.verify(f"Bearer {jwt_text}", AUD)
            except AuthError as error:
                return error

    outcome = asyncio.run(attempt())
    hypothesis.event(outcome.reason if isinstance(outcome, AuthError) else "accepted")
    if isinstance(outcome, Claims):
        now = NOW
        assert outcome.iss == payload["iss"] == ISS
        assert payload["aud"] == AUD or AUD in payload["aud"]
        assert not isinstance(payload["exp"], bool)
        assert now - 30 < payload["exp"] <= now + 3600 + 30
        assert payload["iat"] <= now + 30
        assert "nbf" not in payload or payload["nbf"] <= now + 30
        assert isinstance(payload["jti"], str)
        assert payload["jti"]
        assert outcome.tenant is None or isinstance(outcome.tenant, str)
