"""Async FHIR R4 client over one shared httpx.AsyncClient.

A `FhirClient` is cheap and made per hook call: it carries the FHIR base URL and the bearer
token of that call. The `httpx.AsyncClient` behind it (connection pool) is created once by
the app and shared. The token is sent only to URLs under the base (same scheme, host, port
and path prefix): a `next` link pointing anywhere else is not followed, and the result says
so (`truncated`, `stop_reason`).

Errors are split the way callers act on them (`FhirError.kind`):
- final: `unauthorized` (401/403), `not_found` (404/410), `client` (other 4xx),
  `invalid` (not JSON, not a resource/Bundle, a redirect we do not follow);
- transient, already retried where safe: `server` (429, 5xx), `timeout`, `unreachable`;
- `too_large`: a response, or all responses of this client together, beyond the byte
  budget. Bodies are streamed and counted as they arrive (after decompression, so a gzip
  bomb counts at its real size); reading stops at the budget and the partial body is
  dropped, so one huge page costs at most the budget in memory, not its size.
Only 429/502/503/504 are retried (a GET is idempotent; 500 usually is a bug that a retry
repeats), at most `retries` times, honouring a short Retry-After and never past the
caller's deadline. A connection the server dropped before answering (it closed an idle
keep-alive connection just as we reused it: servers and load balancers time idle ones
out on their own clock) is retried once at once, on a new connection.

Nothing here logs: URLs carry patient ids, bodies carry patient data, headers the token.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode, urljoin

import httpx
import orjson

from fhir_mappings.bundle import next_link

# The server closed the connection without (a whole) answer: what reusing a keep-alive
# connection the server has just timed out looks like.
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)

ErrorKind = Literal[
    "unauthorized",
    "not_found",
    "client",
    "timeout",
    "unreachable",
    "server",
    "invalid",
    "too_large",
]
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
ACCEPT = "application/fhir+json, application/json;q=0.9"
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Byte budgets: one response, and everything one client (one hook call) reads.
MAX_RESPONSE_BYTES = 10_000_000
MAX_CALL_BYTES = 25_000_000

SearchParams = Mapping[str, str] | Sequence[tuple[str, str]] | str


class FhirError(Exception):
    """A FHIR request failed. `message` is safe to show and log (no token, no body)."""

    def __init__(self, kind: ErrorKind, status: int | None, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(slots=True)
class SearchResult:
    resources: list[dict[str, Any]] = field(default_factory=list)
    # OperationOutcome entries of the Bundle(s) (search.mode = outcome): warnings, errors.
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    # True when paging stopped before the last page; `stop_reason` says why.
    truncated: bool = False
    stop_reason: str | None = None
    pages: int = 0


class FhirClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 5.0,
        max_pages: int = 10,
        page_size: int | None = None,
        retries: int = 2,
        max_retry_wait: float = 2.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_call_bytes: int = MAX_CALL_BYTES,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/") + "/"
        self._base = httpx.URL(self.base_url)
        self._token = token
        self._timeout = timeout
        self._max_pages = max_pages
        self._page_size = page_size
        self._retries = retries
        self._max_retry_wait = max_retry_wait
        self._max_response_bytes = max_response_bytes
        self._max_call_bytes = max_call_bytes
        self.bytes_read = 0  # all response bodies so far, toward max_call_bytes

    def __repr__(self) -> str:  # never the token
        return f"FhirClient({self.base_url!r})"

    # --- where the token may go ----------------------------------------------------------

    def same_origin(self, url: str) -> bool:
        """True when `url` is under the base URL: same scheme, host and port, and a path
        below the base path. On a multi-tenant host /tenantA's token must not reach
        /tenantB, so the path counts too; dot segments (even percent-encoded, which a
        server may decode) are refused rather than reasoned about."""
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            return False
        if target.scheme not in _DEFAULT_PORTS or target.userinfo:
            return False
        if (target.scheme, target.host) != (self._base.scheme, self._base.host):
            return False
        if _port(target) != _port(self._base):
            return False
        path = target.path  # percent-decoded
        if any(segment in (".", "..") for segment in path.split("/")):
            return False
        return path.startswith(self._base.path)

    # --- public API -----------------------------------------------------------------------

    async def read(
        self, resource_type: str, id: str, *, deadline: float | None = None
    ) -> dict[str, Any] | None:
        """GET [base]/{resource_type}/{id}; None when the server has no such resource."""
        _check_type(resource_type)
        if not _FHIR_ID.fullmatch(id):
            raise FhirError("client", None, f"{resource_type} id is not a valid FHIR id")
        try:
            data = await self._get_json(
                f"{self.base_url}{resource_type}/{quote(id, safe='')}", deadline
            )
        except FhirError as exc:
            if exc.kind == "not_found":
                return None
            raise
        if not isinstance(data, dict) or data.get("resourceType") != resource_type:
            raise FhirError("invalid", None, f"FHIR server did not answer with a {resource_type}")
        return data

    async def search(
        self,
        resource_type: str,
        params: SearchParams | None = None,
        *,
        max_pages: int | None = None,
        deadline: float | None = None,
    ) -> SearchResult:
        """GET [base]/{resource_type}?params and every `next` page (bounded, under the base
        only). `params` is a mapping or pairs (encoded here), or a query string already
        URL-encoded (sent as is, e.g. a filled prefetch template). `_count` is added from
        `page_size` unless the query sets it."""
        _check_type(resource_type)
        if isinstance(params, str):
            query = params.lstrip("?")
        else:
            query = urlencode(list(params.items()) if isinstance(params, Mapping) else params or [])
        has_count = any(part.split("=", 1)[0] == "_count" for part in query.split("&"))
        if self._page_size and not has_count:
            query += ("&" if query else "") + f"_count={self._page_size}"
        url = f"{self.base_url}{resource_type}" + (f"?{query}" if query else "")
        return await self.follow(url, max_pages=max_pages, deadline=deadline)

    async def follow(
        self,
        url: str,
        result: SearchResult | None = None,
        *,
        max_pages: int | None = None,
        deadline: float | None = None,
    ) -> SearchResult:
        """Fetch the Bundle at `url` and its `next` pages into `result` (a new one if None).
        Also used for the `next` link of a Bundle the EHR prefetched."""
        result = result if result is not None else SearchResult()
        pages_left = self._max_pages if max_pages is None else max_pages
        next_url: str | None = url
        while next_url is not None:
            if not self.same_origin(next_url):
                result.truncated = True
                result.stop_reason = "a next link points outside the FHIR server; not followed"
                break
            if pages_left <= 0:
                result.truncated = True
                result.stop_reason = f"more than {result.pages} pages; the rest not fetched"
                break
            data = await self._get_json(next_url, deadline)
            pages_left -= 1
            result.pages += 1
            if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
                raise FhirError("invalid", None, "FHIR search did not answer with a Bundle")
            add_bundle(data, result)
            link = next_link(data)
            next_url = urljoin(next_url, link) if link else None
        return result

    # --- one GET ----------------------------------------------------------------------------

    async def _get_json(self, url: str, deadline: float | None) -> Any:
        headers = {"Accept": ACCEPT}
        if self._token and self.same_origin(url):
            headers["Authorization"] = f"Bearer {self._token}"
        loop = asyncio.get_running_loop()
        attempt = 0
        dropped_retried = False
        while True:
            timeout = self._timeout
            if deadline is not None:
                timeout = min(timeout, deadline - loop.time())
                if timeout <= 0:
                    raise FhirError("timeout", None, "FHIR server too slow (hook deadline)")
            retry_in: float | None = None
            try:
                async with self._http.stream(
                    "GET", url, headers=headers, timeout=timeout
                ) as response:
                    status = response.status_code
                    if status in RETRYABLE_STATUS and attempt < self._retries:
                        wait = self._retry_wait(response, attempt)
                        fits = wait is not None and (
                            deadline is None or loop.time() + wait < deadline
                        )
                        retry_in = wait if fits else None
                    if retry_in is None:
                        _raise_for_status(status)  # an error body is never read
                        body = await self._read_body(response)
            except httpx.TimeoutException as exc:
                raise FhirError("timeout", None, "FHIR server timed out") from exc
            except _DROPPED as exc:
                if dropped_retried:
                    raise FhirError("unreachable", None, "FHIR server unreachable") from exc
                dropped_retried = True
                continue
            except httpx.TransportError as exc:
                raise FhirError("unreachable", None, "FHIR server unreachable") from exc
            if retry_in is None:
                break
            attempt += 1
            await asyncio.sleep(retry_in)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise FhirError("invalid", status, "FHIR server answered with invalid JSON") from exc

    async def _read_body(self, response: httpx.Response) -> bytearray:
        """The body, read chunk by chunk within the response and call budgets."""
        limit = self._max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > min(limit, self._call_budget_left()):
            raise self._too_large(int(declared) > limit)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            self.bytes_read += len(chunk)
            if len(body) + len(chunk) > limit or self._call_budget_left() < 0:
                raise self._too_large(len(body) + len(chunk) > limit)
            body += chunk
        return body

    def _call_budget_left(self) -> int:
        return self._max_call_bytes - self.bytes_read

    def _too_large(self, response: bool) -> FhirError:
        if response:
            message = f"FHIR response larger than {self._max_response_bytes} bytes; not read"
        else:
            message = f"FHIR data for this call beyond {self._max_call_bytes} bytes; not read"
        return FhirError("too_large", None, message)

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the server asks for longer than we
        are willing to wait inside a hook call."""
        asked = retry_after_seconds(response.headers.get("Retry-After"))
        wait = 0.2 * (2**attempt) if asked is None else asked
        return wait if wait <= self._max_retry_wait else None


def _port(url: httpx.URL) -> int | None:
    return url.port or _DEFAULT_PORTS.get(url.scheme)


def _check_type(resource_type: str) -> None:
    # The type becomes a path segment: never let it carry "/", "?" or "..".
    if not _RESOURCE_TYPE.fullmatch(resource_type):
        raise ValueError(f"not a FHIR resource type: {resource_type!r}")


def _raise_for_status(status: int) -> None:
    if status < 300:
        return
    if status < 400:
        # Redirects are not followed: the token would have to travel with them.
        raise FhirError("invalid", status, f"FHIR server redirected ({status}); not followed")
    if status in (401, 403):
        raise FhirError("unauthorized", status, f"FHIR server refused the token ({status})")
    if status in (404, 410):
        raise FhirError("not_found", status, f"not found on the FHIR server ({status})")
    if status == 429 or status >= 500:
        raise FhirError("server", status, f"FHIR server error ({status})")
    raise FhirError("client", status, f"FHIR server rejected the query ({status})")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def add_bundle(bundle: Mapping[str, Any], result: SearchResult) -> None:
    """Add a Bundle's entries to `result`: OperationOutcomes (search.mode = outcome, or any
    OperationOutcome entry) to `outcomes`, every other resource (matches and includes) to
    `resources`. Entries without a resource object are skipped."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
            result.outcomes.append(resource)
        else:
            result.resources.append(resource)
