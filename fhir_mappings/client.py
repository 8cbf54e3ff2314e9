"""Async FHIR R4 client over one shared httpx.AsyncClient.

The client is created per hook call (it only carries the base URL and token), the
AsyncClient behind it once per process. The bearer token is sent only to the FHIR server's
own origin: a `next` link or absolute reference pointing elsewhere is not followed.
Errors are split the way callers act on them: `unauthorized` and other 4xx are final,
`timeout`, `unreachable` and `server` (5xx, 429) were already retried where safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from fhir_mappings.bundle import next_link

ErrorKind = Literal[
    "unauthorized", "not_found", "client", "timeout", "unreachable", "server", "invalid"
]
_RETRYABLE = frozenset({429, 502, 503, 504})
_ACCEPT = "application/fhir+json, application/json;q=0.9"


class FhirError(Exception):
    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(slots=True)
class SearchResult:
    resources: list[dict[str, Any]] = field(default_factory=list)
    # OperationOutcome entries the server put in the Bundle (search.mode = outcome).
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    # True when paging stopped early (page limit, or a next link on another origin).
    truncated: bool = False


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


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
        retries: int = 1,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/") + "/"
        self._token = token
        self._timeout = timeout
        self._max_pages = max_pages
        self._page_size = page_size
        self._retries = retries

    def _url(self, relative_or_absolute: str) -> str:
        return urljoin(self.base_url, relative_or_absolute.lstrip("/"))

    def same_origin(self, url: str) -> bool:
        """Same scheme, host and port, and a path under the base: on a multi-tenant host,
        /tenantA's token must never reach /tenantB."""
        if origin(url) != origin(self.base_url):
            return False
        return urlsplit(url).path.startswith(urlsplit(self.base_url).path)

    async def _get_json(self, url: str) -> Any:
        headers = {"Accept": _ACCEPT}
        if self._token and self.same_origin(url):
            headers["Authorization"] = f"Bearer {self._token}"
        attempt = 0
        while True:
            try:
                response = await self._http.get(url, headers=headers, timeout=self._timeout)
            except httpx.TimeoutException as exc:
                raise FhirError("timeout", "FHIR server timed out") from exc
            except httpx.TransportError as exc:
                raise FhirError("unreachable", "FHIR server unreachable") from exc
            status = response.status_code
            if status in _RETRYABLE and attempt < self._retries:
                attempt += 1
                await asyncio.sleep(_retry_after(response.headers.get("Retry-After")))
                continue
            break
        if status in (401, 403):
            raise FhirError("unauthorized", f"FHIR server refused the token ({status})", status)
        if status == 404:
            raise FhirError("not_found", "not found on the FHIR server (404)", status)
        if status >= 500 or status == 429:
            raise FhirError("server", f"FHIR server error ({status})", status)
        if status >= 400:
            raise FhirError("client", f"FHIR server rejected the query ({status})", status)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise FhirError("invalid", "FHIR server answered with invalid JSON", status) from exc

    async def read(self, relative: str) -> dict[str, Any] | None:
        """GET one resource ("Patient/123"); None when the server has no such resource."""
        try:
            data = await self._get_json(self._url(relative))
        except FhirError as exc:
            if exc.kind == "not_found":
                return None
            raise
        if not isinstance(data, dict) or "resourceType" not in data:
            raise FhirError("invalid", "FHIR server answered with something not a resource")
        return data

    async def search(self, relative: str) -> SearchResult:
        """Run a search and follow Bundle.link[next] (bounded, same origin only)."""
        url = self._url(relative)
        if self._page_size and "_count=" not in url:
            url += ("&" if "?" in url else "?") + f"_count={self._page_size}"
        return await self.follow(url, SearchResult(), pages_left=self._max_pages)

    async def follow(
        self, url: str, result: SearchResult, *, pages_left: int | None = None
    ) -> SearchResult:
        """Collect the pages starting at `url` into `result`."""
        pages = self._max_pages if pages_left is None else pages_left
        next_url: str | None = url
        while next_url is not None:
            if pages <= 0 or not self.same_origin(next_url):
                result.truncated = True
                break
            data = await self._get_json(next_url)
            pages -= 1
            if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
                raise FhirError("invalid", "FHIR search did not return a Bundle")
            add_bundle(data, result)
            link = next_link(data)
            next_url = urljoin(next_url, link) if link else None
        return result


def add_bundle(bundle: Mapping[str, Any], result: SearchResult) -> None:
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        resource = entry["resource"]
        mode = (
            (entry.get("search") or {}).get("mode")
            if isinstance(entry.get("search"), dict)
            else None
        )
        if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
            result.outcomes.append(resource)
        else:
            result.resources.append(resource)


def _retry_after(value: str | None) -> float:
    # Honour short Retry-After values only: the whole hook call has a deadline anyway.
    try:
        return min(max(float(value), 0.0), 2.0) if value else 0.2
    except ValueError:
        return 0.2
