"""Authentication of the calling EHR (CDS Hooks 2.0 §Trusting CDS Clients).

Every discovery, hook and feedback call carries `Authorization: Bearer <JWT>` signed by a
trusted CDS client. Checked in this order, cheapest and most dangerous first:

1. a compact JWS of bounded size; header `alg` on the allowlist (never `none` or HMAC:
   checked before any key is looked at, so the public key can never be used as an HMAC
   secret); `typ` "JWT" when present; `kid` present (the spec makes it REQUIRED);
2. the unverified `iss` picks a configured issuer (unknown → refused, nothing fetched);
3. the key: from that issuer's `jwks_url`, or from the `jku` header only when it is on that
   issuer's `jku_allowlist`; JWK Sets are cached per URL, refreshed on an unknown `kid` or
   when older than JWKS_MAX_AGE_SECONDS, at most once per JWKS_MIN_REFRESH_SECONDS per URL
   so tokens with random `kid`s cannot make us hammer the EHR;
4. the signature (joserfc), then the claims: `iss` again (now verified), `aud` equal to the
   endpoint URL, `exp` in the future and not too far ahead, `iat` not in the future
   (leeway `CDS_JWT_LEEWAY_SECONDS`), `jti` present;
5. `jti` not seen before for this issuer (replay cache, remembered until exp + leeway).

Any failure raises AuthError. Its `reason` is for the log only: the caller gets a bare 401.
Reasons never contain the token or claim values.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import JWKRegistry, Key

from cds_hooks.issuers import TrustedIssuer, parse_trusted_issuers

if TYPE_CHECKING:
    from cds_hooks.replay import ReplayCache
    from cds_hooks.settings import Settings

logger = logging.getLogger(__name__)

# A CDS Hooks JWT is a few hundred bytes; anything this large is not one of ours.
MAX_TOKEN_BYTES = 16 * 1024
# Tokens are minted per call (the spec's example lives 5 minutes). A far-future `exp` would
# pin a replay-cache entry for that long, so refuse it outright.
MAX_TOKEN_LIFETIME_SECONDS = 3600
JWKS_MIN_REFRESH_SECONDS = 60.0
# Refetch even when every kid is known, so a key the EHR withdrew stops working.
JWKS_MAX_AGE_SECONDS = 3600.0
JWKS_MAX_BYTES = 256 * 1024
JWKS_TIMEOUT_SECONDS = 5.0

# Asymmetric signature algorithms we can be configured to accept, and the key type each
# needs. HS* (shared secret) and `none` are absent on purpose: the spec forbids them.
_ASYMMETRIC_ALGS: Mapping[str, str] = {
    **{f"RS{n}": "RSA" for n in (256, 384, 512)},
    **{f"PS{n}": "RSA" for n in (256, 384, 512)},
    **{f"ES{n}": "EC" for n in (256, 384, 512)},
    "EdDSA": "OKP",
    "Ed25519": "OKP",
}
_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class AuthError(Exception):
    """Authentication failed. `reason` is for the log only, never the response body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    iss: str
    sub: str | None
    aud: str  # the audience that matched (this endpoint's URL)
    jti: str
    exp: int
    iat: int
    tenant: str | None


def auth_required(settings: Settings) -> bool:
    """False only in dev mode (`CDS_DEV_MODE=1`), where the caller skips `verify`."""
    return not settings.dev_mode


def audience(settings: Settings, service_id: str | None = None) -> str:
    """The `aud` a client must use: `<CDS_PUBLIC_URL>/cds-services[/<id>]`."""
    base = settings.public_url.rstrip("/") + "/cds-services"
    return f"{base}/{service_id}" if service_id else base


def parse_algorithms(value: str) -> tuple[str, ...]:
    """`CDS_JWT_ALGORITHMS` → allowed algorithms; ValueError for none/HMAC/unknown."""
    algs = tuple(a.strip() for a in value.split(",") if a.strip())
    if not algs:
        raise ValueError("CDS_JWT_ALGORITHMS is empty")
    bad = [a for a in algs if a not in _ASYMMETRIC_ALGS]
    if bad:
        raise ValueError(
            f"CDS_JWT_ALGORITHMS has {bad}: only asymmetric signature algorithms are allowed "
            f"(CDS Hooks forbids 'none' and HMAC); choose from {sorted(_ASYMMETRIC_ALGS)}"
        )
    return algs


def _b64_json(segment: str) -> Any:
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return json.loads(raw)


def _numeric_date(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value)


@dataclass
class _JwksEntry:
    keys: tuple[Key, ...] = ()
    fetched_at: float | None = None  # monotonic time of the last successful fetch
    attempted_at: float | None = None  # monotonic time of the last fetch attempt
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Authenticator:
    """Verifies CDS client JWTs. One per process; shares the app's httpx client."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        replay: ReplayCache,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # Both raise ValueError on bad configuration, so start-up fails loudly.
        self._issuers = parse_trusted_issuers(settings.trusted_issuers)
        self._algorithms = parse_algorithms(settings.jwt_algorithms)
        self._leeway = settings.jwt_leeway_seconds
        self._http = http
        self._replay = replay
        self._clock = clock
        self._monotonic = monotonic
        self._jwks: dict[str, _JwksEntry] = {}

    @property
    def issuers(self) -> Mapping[str, TrustedIssuer]:
        """Trusted issuers by `iss` (for the per-issuer FHIR allowlist)."""
        return self._issuers

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self._algorithms

    async def verify(self, authorization: str | None, audience: str) -> Claims:
        """Claims of a valid, fresh token addressed to `audience`; AuthError otherwise."""
        token = self._bearer_token(authorization)
        header, unverified = self._split(token)
        alg = self._check_header(header)
        issuer = self._pick_issuer(unverified)
        jwks_url = self._jwks_url(header, issuer)
        key = await self._key(jwks_url, str(header["kid"]), alg)
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except Exception as error:
            # JoseError normally; anything else the library trips over is a refusal too.
            raise AuthError(f"signature invalid ({type(error).__name__})") from error
        claims = self._check_claims(decoded.claims, issuer, audience)
        try:
            replayed = await self._replay.seen(claims.jti, claims.iss, claims.exp + self._leeway)
        except Exception as error:
            # Fail closed: without the replay check a captured token could be reused.
            raise AuthError(f"replay cache unavailable ({type(error).__name__})") from error
        if replayed:
            raise AuthError("jti already used (replay)")
        return claims

    # -- token structure -------------------------------------------------------------------

    @staticmethod
    def _bearer_token(authorization: str | None) -> str:
        if not authorization:
            raise AuthError("no Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization is not a Bearer token")
        token = token.strip()
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError("token too large")
        if not _COMPACT_JWS.match(token):
            raise AuthError("token is not a compact JWS")
        return token

    @staticmethod
    def _split(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        head, payload, _ = token.split(".")
        try:
            header = _b64_json(head)
            claims = _b64_json(payload)
        except (binascii.Error, ValueError) as error:
            raise AuthError("token header or payload is not base64url JSON") from error
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise AuthError("token header or payload is not a JSON object")
        return header, claims

    def _check_header(self, header: Mapping[str, Any]) -> str:
        alg = header.get("alg")
        # First, before keys are involved: `none` and HS* never reach signature checking.
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise AuthError("alg not allowed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise AuthError("typ is not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("kid missing")
        # RFC 7515 §4.1.11: a token naming extensions we do not implement must be refused.
        if "crit" in header:
            raise AuthError("crit header not supported")
        return alg

    def _pick_issuer(self, unverified: Mapping[str, Any]) -> TrustedIssuer:
        if not self._issuers:
            raise AuthError("no trusted issuer is configured")
        iss = unverified.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("issuer not trusted")
        return issuer

    @staticmethod
    def _jwks_url(header: Mapping[str, Any], issuer: TrustedIssuer) -> str:
        jku = header.get("jku")
        if jku is not None:
            # Exact match: a prefix or host match would let a client point at any file on
            # a shared host.
            if not isinstance(jku, str) or jku not in issuer.jku_allowlist:
                raise AuthError("jku not on the issuer's allowlist")
            return jku
        if not issuer.jwks_url:
            raise AuthError("no jku and no jwks_url configured for the issuer")
        return issuer.jwks_url

    # -- keys ------------------------------------------------------------------------------

    async def _key(self, url: str, kid: str, alg: str) -> Key:
        entry = self._jwks.setdefault(url, _JwksEntry())
        now = self._monotonic()
        if entry.fetched_at is None or now - entry.fetched_at >= JWKS_MAX_AGE_SECONDS:
            await self._refresh(url, entry)
        key = self._find(entry, kid, alg)
        if key is None and await self._refresh(url, entry):
            # Unknown kid: the client may have rotated its keys since our last fetch.
            key = self._find(entry, kid, alg)
        if key is None:
            if entry.fetched_at is None:
                raise AuthError("JWKS unavailable")
            raise AuthError("no usable key for kid in the JWKS")
        return key

    @staticmethod
    def _find(entry: _JwksEntry, kid: str, alg: str) -> Key | None:
        key_type = _ASYMMETRIC_ALGS[alg]
        for key in entry.keys:
            if key.kid != kid or key.key_type != key_type:
                continue
            declared_alg = key.get("alg")
            if declared_alg is not None and declared_alg != alg:
                continue
            return key
        return None

    async def _refresh(self, url: str, entry: _JwksEntry) -> bool:
        """Fetch the JWK Set unless fetched recently. True if a fetch was made (or just
        completed by a concurrent request)."""
        attempted_before = entry.attempted_at
        async with entry.lock:
            if entry.attempted_at != attempted_before:
                return True  # another request fetched while we waited: use its result
            now = self._monotonic()
            if entry.attempted_at is not None and now - entry.attempted_at < (
                JWKS_MIN_REFRESH_SECONDS
            ):
                return False
            entry.attempted_at = now
            try:
                keys = await self._fetch(url)
            except (httpx.HTTPError, ValueError) as error:
                # Keep the keys we had: an EHR's JWKS outage should not lock everyone out.
                # The URL comes from our own configuration (or an allowlisted jku): safe to log.
                logger.warning(
                    "JWKS fetch from %s failed", url, extra={"fields": {"error": str(error)}}
                )
                return True
            entry.keys = keys
            entry.fetched_at = now
            return True

    async def _fetch(self, url: str) -> tuple[Key, ...]:
        body = bytearray()
        async with self._http.stream(
            "GET",
            url,
            headers={"Accept": "application/jwk-set+json, application/json"},
            timeout=JWKS_TIMEOUT_SECONDS,
            follow_redirects=False,
        ) as response:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > JWKS_MAX_BYTES:
                    raise ValueError("JWKS too large")
        data = json.loads(bytes(body))
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ValueError("not a JWK Set")
        keys: list[Key] = []
        for item in data["keys"]:
            # Only public signature keys: an "oct" key would be a shared secret, and a key
            # marked for encryption must not verify signatures.
            if not isinstance(item, dict) or item.get("kty") not in ("RSA", "EC", "OKP"):
                continue
            if item.get("use", "sig") != "sig" or not isinstance(item.get("kid"), str):
                continue
            try:
                keys.append(JWKRegistry.import_key(item))
            except (JoseError, ValueError, TypeError):
                continue
        if not keys:
            raise ValueError("JWKS has no usable signature keys")
        return tuple(keys)

    # -- claims ----------------------------------------------------------------------------

    def _check_claims(self, claims: dict[str, Any], issuer: TrustedIssuer, audience: str) -> Claims:
        now = int(self._clock())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=self._leeway,
            iss={"essential": True, "value": issuer.iss},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as error:
            raise AuthError("token expired") from error
        except MissingClaimError as error:
            raise AuthError(f"required claim missing: {error.claim}") from error
        except ClaimError as error:
            raise AuthError(f"claim invalid: {error.claim}") from error
        exp = _numeric_date(claims["exp"])
        iat = _numeric_date(claims["iat"])
        if exp is None or iat is None:  # validated above; kept for the type checker
            raise AuthError("claim invalid: exp/iat")
        if exp - now > MAX_TOKEN_LIFETIME_SECONDS + self._leeway:
            raise AuthError("exp too far in the future")
        sub, tenant = claims.get("sub"), claims.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise AuthError("claim invalid: tenant")
        return Claims(
            iss=issuer.iss,
            sub=sub if isinstance(sub, str) else None,
            aud=audience,
            jti=str(claims["jti"]),
            exp=exp,
            iat=iat,
            tenant=tenant,
        )
