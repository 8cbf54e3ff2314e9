"""Trusted CDS clients (JWT issuers), parsed from `CDS_TRUSTED_ISSUERS`.

The value is JSON text or a path to a JSON file::

    {"https://ehr.example.org": {
        "jwks_url": "https://ehr.example.org/.well-known/jwks.json",
        "jku_allowlist": ["https://ehr.example.org/keys/jwks.json"],
        "fhir_servers": ["https://ehr.example.org/fhir/r4"]}}

Configuration mistakes fail start-up with a message naming the issuer and the member, so a
typo ("jwks_uri") never silently leaves an issuer without keys or without a FHIR allowlist.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

_MEMBERS = frozenset({"jwks_url", "jku_allowlist", "fhir_servers"})


@dataclass(frozen=True)
class TrustedIssuer:
    iss: str
    # Out-of-band JWK Set of this client; "" when the client always sends an allowed `jku`.
    jwks_url: str
    # `jku` header values honoured for this issuer (exact string match).
    jku_allowlist: tuple[str, ...]
    # FHIR base URLs this issuer's calls may make us contact (overrides CDS_FHIR_ALLOWLIST).
    fhir_servers: tuple[str, ...]


def is_loopback_host(host: str) -> bool:
    """True for `localhost` names and loopback IP literals (no DNS lookup)."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _absolute_url(url: object, where: str, kind: str) -> tuple[str, SplitResult]:
    """A non-empty absolute http(s) URL without credentials; `kind` names what is expected
    in the error ("https URL", "http(s) URL")."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"{where} must be a non-empty string")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{where} must be an absolute {kind}, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{where} must not contain credentials")
    return url, parts


def _check_key_url(url: object, where: str) -> str:
    """A URL we fetch keys from: https, or http on loopback (a local key sidecar)."""
    url, parts = _absolute_url(url, where, "https URL")
    # Keys decide who is trusted; fetching them over plain http off-host would let anyone on
    # the path substitute their own keys.
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        raise ValueError(f"{where} must use https (http is allowed only on loopback)")
    return url


def _check_fhir_url(url: object, where: str) -> str:
    url, parts = _absolute_url(url, where, "http(s) URL")
    if parts.query or parts.fragment:
        raise ValueError(f"{where} must be a base URL without query or fragment")
    return url


def _string_list(value: object, where: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of URLs")
    return value


def _parse_issuer(iss: str, entry: object) -> TrustedIssuer:
    where = f"CDS_TRUSTED_ISSUERS[{iss!r}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object")
    unknown = sorted(set(entry) - _MEMBERS)
    if unknown:
        raise ValueError(f"{where} has unknown member(s) {unknown}; allowed: {sorted(_MEMBERS)}")
    jwks_url = entry.get("jwks_url") or ""
    if jwks_url:
        _check_key_url(jwks_url, f"{where}.jwks_url")
    jku = tuple(
        _check_key_url(u, f"{where}.jku_allowlist[{i}]")
        for i, u in enumerate(_string_list(entry.get("jku_allowlist"), f"{where}.jku_allowlist"))
    )
    if not jwks_url and not jku:
        raise ValueError(f"{where} needs a jwks_url or a non-empty jku_allowlist")
    fhir = tuple(
        _check_fhir_url(u, f"{where}.fhir_servers[{i}]")
        for i, u in enumerate(_string_list(entry.get("fhir_servers"), f"{where}.fhir_servers"))
    )
    return TrustedIssuer(iss=iss, jwks_url=str(jwks_url), jku_allowlist=jku, fhir_servers=fhir)


def parse_trusted_issuers(value: str) -> dict[str, TrustedIssuer]:
    """JSON text or a path to a JSON file → issuers by `iss`. "" → {} (every call refused).

    Raises ValueError with a message naming what is wrong.
    """
    text = value.strip()
    if not text:
        return {}
    if not text.startswith(("{", "[")):
        path = Path(text)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(
                f"CDS_TRUSTED_ISSUERS is neither JSON nor a readable file: {path} "
                f"({error.strerror})"
            ) from error
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"CDS_TRUSTED_ISSUERS is not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno}"
        ) from error
    if not isinstance(data, dict):
        raise ValueError("CDS_TRUSTED_ISSUERS must be a JSON object keyed by issuer (iss)")
    issuers: dict[str, TrustedIssuer] = {}
    for iss, entry in data.items():
        if not iss:
            raise ValueError("CDS_TRUSTED_ISSUERS has an empty issuer key")
        issuers[iss] = _parse_issuer(iss, entry)
    return issuers
