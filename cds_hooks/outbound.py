"""Which FHIR servers we may call with an EHR's access token.

`check_fhir_server` runs before any connection is made. It refuses schemes other than
http(s), credentials in the URL, query/fragment or dot segments in a base URL, link-local
and cloud-metadata addresses, unspecified/multicast addresses, numeric host spellings that a
resolver would read as an IP (`2130706433`, `0x7f.1`), plain http and loopback outside dev
mode, and anything not on the allowlist (the issuer's own `fhir_servers` when configured,
else `CDS_FHIR_ALLOWLIST`). Matching is by scheme, host, port and path prefix on a segment
boundary (`/fhir` allows `/fhir/r4`, not `/fhir-admin`).

Host names are not resolved here: only literal IPs are classified. A name that resolves to
an internal address must be stopped at the resolver / egress proxy in front of the service;
in production the allowlist already limits us to the EHR's own FHIR hosts.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from cds_hooks.issuers import TrustedIssuer, is_loopback_host

if TYPE_CHECKING:
    from cds_hooks.settings import Settings

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Names of cloud instance-metadata services; their addresses are link-local and caught by
# the IP check, but the names resolve to them inside the cloud.
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
# A host whose last label is all digits or hex (0x..) is read as an IPv4 number by
# getaddrinfo/inet_aton even when it is not dotted-quad (e.g. 2130706433 = 127.0.0.1).
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_MAX_URL_LENGTH = 2048


class OutboundError(Exception):
    """Why a FHIR server will not be called; `message` is user-facing (412 OperationOutcome)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Base:
    scheme: str
    host: str  # lowercase, no trailing dot, IPv6 without brackets
    port: int
    path: str  # no trailing slash; "" for the root

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if _DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"

    def contains(self, other: _Base) -> bool:
        return (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port) and (
            other.path == self.path or other.path.startswith(self.path + "/")
        )


def _parse(url: str, *, what: str = "fhirServer", base: bool = True) -> _Base:
    """Parse and normalise; raise OutboundError for anything not a plain http(s) URL."""
    if not isinstance(url, str) or not url.strip():
        raise OutboundError(f"{what} is missing")
    if len(url) > _MAX_URL_LENGTH:
        raise OutboundError(f"{what} is too long")
    # Backslashes and control characters are read differently by different URL parsers.
    if any(c in url for c in "\\\t\r\n\0 ") or any(ord(c) < 0x20 for c in url):
        raise OutboundError(f"{what} contains characters not allowed in a URL")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise OutboundError(f"{what} scheme {scheme or '(none)'!r} is not allowed")
    if "@" in parts.netloc:
        raise OutboundError(f"{what} must not contain credentials")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundError(f"{what} has no host")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as error:
        raise OutboundError(f"{what} has an invalid port") from error
    if base and (parts.query or parts.fragment or url.rstrip().endswith(("?", "#"))):
        raise OutboundError(f"{what} must be a base URL without query or fragment")
    path = parts.path.rstrip("/")
    # `/fhir/../admin` would pass a `/fhir` prefix check but reach `/admin`.
    segments = unquote(path).split("/")
    if any(s in (".", "..") for s in segments):
        raise OutboundError(f"{what} must not contain '.' or '..' path segments")
    return _Base(scheme, host, port, path)


def _host_problem(host: str, *, dev_mode: bool) -> str | None:
    """Why this host must not be contacted, or None. Literal addresses only, no DNS."""
    if host in _METADATA_HOSTS:
        return "is a cloud metadata service"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None:
        if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
            return "is a numeric address in a non-standard form"
        if is_loopback_host(host) and not dev_mode:
            return "is a loopback address (allowed only in dev mode)"
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local:
        return "is a link-local / cloud metadata address"
    if ip.is_loopback:
        return None if dev_mode else "is a loopback address (allowed only in dev mode)"
    # ::1 is inside the reserved ::/8, so loopback is decided first.
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "is not a unicast address"
    return None


def _allowlist(issuer: TrustedIssuer | None, settings: Settings) -> tuple[str, ...]:
    if issuer is not None and issuer.fhir_servers:
        return issuer.fhir_servers
    return tuple(u.strip() for u in settings.fhir_allowlist.split(",") if u.strip())


def check_fhir_server(url: str, *, issuer: TrustedIssuer | None, settings: Settings) -> str:
    """The normalised base URL (no trailing slash) we may call, or OutboundError.

    Dev mode allows http and loopback, and does not require an allowlist; one that is
    configured is still enforced for non-loopback hosts.
    """
    dev_mode = settings.dev_mode
    target = _parse(url)
    if target.scheme == "http" and not dev_mode:
        raise OutboundError("fhirServer must use https")
    problem = _host_problem(target.host, dev_mode=dev_mode)
    if problem:
        raise OutboundError(f"fhirServer host {problem}")
    allowed: list[_Base] = []
    for entry in _allowlist(issuer, settings):
        try:
            allowed.append(_parse(entry, what="allowlist entry"))
        except OutboundError:
            # A bad entry allows nothing; start-up validation reports it.
            continue
    if dev_mode and (not allowed or is_loopback_host(target.host)):
        return target.url()
    if not allowed:
        raise OutboundError("no FHIR server allowlist is configured for this client")
    if any(a.contains(target) for a in allowed):
        return target.url()
    raise OutboundError("fhirServer is not on this service's allowlist")


def same_origin(url: str, base: str) -> bool:
    """True if `url` may be sent the FHIR token: same scheme, host and port as `base` and a
    path under `base`'s path. Used for paging `next` links and absolute references."""
    try:
        target = _parse(url, what="url", base=False)
        origin = _parse(base, what="base")
    except OutboundError:
        return False
    return origin.contains(target)
