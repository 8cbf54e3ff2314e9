"""FHIR client: faults a real FHIR server can't easily produce, faked with respx.

Paging against a real server is covered in tests/integration/test_prefetch_fhir.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from fhir_mappings.client import FhirClient, FhirError, SearchResult, retry_after_seconds

BASE = "https://fhir.example.org/r4"
TOKEN = "secret-token-value"


def page(entries: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in entries],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def obs(i: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": str(i)}


def run(call: Callable[[FhirClient], Awaitable[Any]], **options: Any) -> Any:
    async def main() -> Any:
        async with httpx.AsyncClient() as http:
            return await call(FhirClient(http, BASE, TOKEN, **options))

    return asyncio.run(main())


def auth(route: respx.Route, call: int = 0) -> str | None:
    value: str | None = route.calls[call].request.headers.get("Authorization")
    return value


# --- paging and where the token goes -----------------------------------------------------


@respx.mock
def test_search_follows_next_pages_with_page_size_and_token() -> None:
    first = respx.get(f"{BASE}/Observation", params={"patient": "p", "_count": "2"}).mock(
        return_value=httpx.Response(200, json=page([obs(1), obs(2)], f"{BASE}/Observation?p2"))
    )
    second = respx.get(f"{BASE}/Observation", params={"p2": ""}).mock(
        return_value=httpx.Response(200, json=page([obs(3)]))
    )
    result = run(lambda c: c.search("Observation", {"patient": "p"}), page_size=2)
    assert [r["id"] for r in result.resources] == ["1", "2", "3"]
    assert (result.truncated, result.pages) == (False, 2)
    assert auth(first) == auth(second) == f"Bearer {TOKEN}"
    assert first.calls[0].request.headers["Accept"].startswith("application/fhir+json")


@respx.mock
def test_relative_next_link_is_resolved_against_the_page() -> None:
    # respx matches params by inclusion: the more specific route goes first.
    second = respx.get(f"{BASE}/Condition", params={"patient": "p", "_offset": "1"}).mock(
        return_value=httpx.Response(200, json=page([obs(2)]))
    )
    respx.get(f"{BASE}/Condition", params={"patient": "p"}).mock(
        return_value=httpx.Response(200, json=page([obs(1)], "Condition?patient=p&_offset=1"))
    )
    result = run(lambda c: c.search("Condition", "patient=p"))
    assert second.called
    assert len(result.resources) == 2


@respx.mock
def test_next_link_to_another_origin_is_not_followed_and_is_reported() -> None:
    respx.get(f"{BASE}/Observation").mock(
        return_value=httpx.Response(
            200, json=page([obs(1)], "https://evil.example/r4/Observation?page=2")
        )
    )
    elsewhere = respx.get(url__startswith="https://evil.example").mock(
        return_value=httpx.Response(200, json=page([obs(2)]))
    )
    result = run(lambda c: c.search("Observation"))
    assert [r["id"] for r in result.resources] == ["1"]
    assert result.truncated
    assert result.stop_reason is not None
    assert "outside the FHIR server" in result.stop_reason
    assert not elsewhere.called


@pytest.mark.parametrize(
    "link",
    [
        "http://fhir.example.org/r4/Observation?page=2",  # https → http
        "https://fhir.example.org:8443/r4/Observation?page=2",  # another port
        "https://fhir.example.org/other-tenant/Observation?page=2",  # another tenant
        "https://fhir.example.org/r4evil/Observation",  # a prefix of the base, not under it
        "https://fhir.example.org/r4/%2e%2e/other/Observation",  # encoded dot segments
        "https://fhir.example.org@evil.example/r4/Observation",  # userinfo trick
        "ftp://fhir.example.org/r4/Observation",
    ],
)
@respx.mock
def test_only_urls_under_the_base_get_the_token(link: str) -> None:
    respx.get(f"{BASE}/Observation").mock(
        return_value=httpx.Response(200, json=page([obs(1)], link))
    )
    other = respx.route(url__regex=r"^(?!https://fhir\.example\.org/r4/Observation$).*").mock(
        return_value=httpx.Response(200, json=page([obs(2)]))
    )
    result = run(lambda c: c.search("Observation"))
    assert result.truncated
    assert not other.called


def test_same_origin_accepts_the_base_itself() -> None:
    client = FhirClient(httpx.AsyncClient(), BASE + "/")
    assert client.same_origin(f"{BASE}/Patient/1")
    assert client.same_origin("HTTPS://FHIR.example.org:443/r4/Patient/1")
    assert not client.same_origin("not a url at all")
    assert TOKEN not in repr(FhirClient(httpx.AsyncClient(), BASE, TOKEN))


@respx.mock
def test_page_limit_is_a_bound() -> None:
    route = respx.get(url__startswith=f"{BASE}/Observation").mock(
        side_effect=lambda request: httpx.Response(
            200, json=page([obs(1)], f"{BASE}/Observation?again")
        )
    )
    result = run(lambda c: c.search("Observation", max_pages=3))
    assert route.call_count == 3
    assert len(result.resources) == 3
    assert result.truncated
    assert result.stop_reason is not None
    assert "pages" in result.stop_reason


@respx.mock
def test_outcome_entries_are_kept_apart_from_resources() -> None:
    warning = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "informational"}],
    }
    bundle = page([obs(1)])
    bundle["entry"].append({"resource": warning, "search": {"mode": "outcome"}})
    bundle["entry"].append({"fullUrl": "no-resource"})
    respx.get(f"{BASE}/Observation").mock(return_value=httpx.Response(200, json=bundle))
    result = run(lambda c: c.search("Observation"))
    assert result.resources == [obs(1)]
    assert result.outcomes == [warning]


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "kind", "status"),
    [
        (httpx.Response(401), "unauthorized", 401),
        (httpx.Response(403), "unauthorized", 403),
        (httpx.Response(500), "server", 500),
        (httpx.Response(400), "client", 400),
        (httpx.Response(302, headers={"Location": "https://evil.example/"}), "invalid", 302),
        (httpx.Response(200, content=b"<html>oops</html>"), "invalid", 200),
        (httpx.Response(200, json={"resourceType": "Patient"}), "invalid", None),
        (httpx.Response(200, json=["not", "a", "bundle"]), "invalid", None),
    ],
)
@respx.mock
def test_search_errors_are_classified(response: httpx.Response, kind: str, status: Any) -> None:
    route = respx.get(f"{BASE}/Observation").mock(return_value=response)
    with pytest.raises(FhirError) as caught:
        run(lambda c: c.search("Observation"))
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert route.call_count == 1  # none of these is retried
    assert TOKEN not in str(caught.value)


@respx.mock
def test_read_404_is_none_and_wrong_type_is_invalid() -> None:
    respx.get(f"{BASE}/Patient/gone").mock(return_value=httpx.Response(404))
    respx.get(f"{BASE}/Patient/odd").mock(
        return_value=httpx.Response(200, json={"resourceType": "Observation", "id": "odd"})
    )
    assert run(lambda c: c.read("Patient", "gone")) is None
    with pytest.raises(FhirError) as caught:
        run(lambda c: c.read("Patient", "odd"))
    assert caught.value.kind == "invalid"


def test_read_refuses_ids_and_types_that_would_change_the_path() -> None:
    with pytest.raises(FhirError) as caught:
        run(lambda c: c.read("Patient", "../Observation"))
    assert caught.value.kind == "client"
    with pytest.raises(ValueError, match="not a FHIR resource type"):
        run(lambda c: c.read("Patient/x", "1"))
    with pytest.raises(ValueError, match="not a FHIR resource type"):
        run(lambda c: c.search("../admin"))


@respx.mock
def test_connection_refused_is_unreachable() -> None:
    respx.get(f"{BASE}/Patient/p").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(FhirError) as caught:
        run(lambda c: c.read("Patient", "p"))
    assert caught.value.kind == "unreachable"


@respx.mock
def test_timeout_is_a_timeout_and_not_retried() -> None:
    route = respx.get(f"{BASE}/Patient/p").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(FhirError) as caught:
        run(lambda c: c.read("Patient", "p"))
    assert caught.value.kind == "timeout"
    assert route.call_count == 1


# --- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
@respx.mock
def test_transient_status_is_retried(status: int) -> None:
    route = respx.get(f"{BASE}/Patient/p").mock(
        side_effect=[
            httpx.Response(status, headers={"Retry-After": "0"}),
            httpx.Response(status, headers={"Retry-After": "0"}),
            httpx.Response(200, json={"resourceType": "Patient", "id": "p"}),
        ]
    )
    patient = run(lambda c: c.read("Patient", "p"))
    assert patient == {"resourceType": "Patient", "id": "p"}
    assert route.call_count == 3
    assert auth(route, 2) == f"Bearer {TOKEN}"


@respx.mock
def test_retries_are_bounded_then_a_server_error() -> None:
    route = respx.get(f"{BASE}/Observation").mock(
        return_value=httpx.Response(503, headers={"Retry-After": "0"})
    )
    with pytest.raises(FhirError) as caught:
        run(lambda c: c.search("Observation"), retries=2)
    assert (caught.value.kind, caught.value.status) == ("server", 503)
    assert str(caught.value) == "FHIR server error (503)"
    assert route.call_count == 3


@respx.mock
def test_a_long_retry_after_is_not_waited_for() -> None:
    route = respx.get(f"{BASE}/Observation").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "120"})
    )
    with pytest.raises(FhirError) as caught:
        run(lambda c: c.search("Observation"))
    assert caught.value.kind == "server"
    assert route.call_count == 1


@respx.mock
def test_no_retry_past_the_deadline() -> None:
    # Retry-After (30 s) is far past the deadline (5 s), and the instant 503 has the 5 s
    # to arrive: no retry fits, whatever the machine's speed.
    route = respx.get(f"{BASE}/Observation").mock(
        return_value=httpx.Response(503, headers={"Retry-After": "30"})
    )

    async def call(client: FhirClient) -> SearchResult:
        deadline = asyncio.get_running_loop().time() + 5
        return await client.search("Observation", deadline=deadline)

    with pytest.raises(FhirError) as caught:
        run(call)
    assert caught.value.status == 503
    assert route.call_count == 1


def test_retry_after_forms() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Sun, 01 Mar 2026 12:00:05 GMT", now) == 5.0
    assert retry_after_seconds("Sun, 01 Mar 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


@respx.mock
def test_deadline_already_passed_sends_nothing() -> None:
    route = respx.get(f"{BASE}/Patient/p").mock(return_value=httpx.Response(200))

    async def call(client: FhirClient) -> Any:
        return await client.read("Patient", "p", deadline=asyncio.get_running_loop().time())

    with pytest.raises(FhirError) as caught:
        run(call)
    assert caught.value.kind == "timeout"
    assert not route.called


@respx.mock
def test_no_token_no_authorization_header() -> None:
    route = respx.get(f"{BASE}/Patient/p").mock(
        return_value=httpx.Response(200, json={"resourceType": "Patient", "id": "p"})
    )

    async def main() -> Any:
        async with httpx.AsyncClient() as http:
            return await FhirClient(http, BASE).read("Patient", "p")

    asyncio.run(main())
    assert auth(route) is None


# --- byte budgets ------------------------------------------------------------------------


async def _chunks(total: int, size: int = 65536) -> Any:
    """A Bundle body of `total` bytes, streamed without a Content-Length."""
    head = b'{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"note":"'
    yield head
    sent = len(head)
    while sent < total:
        chunk = b"A" * min(size, total - sent)
        sent += len(chunk)
        yield chunk
    yield b'"}}]}'


@respx.mock
def test_a_streamed_response_beyond_the_budget_is_not_read_to_the_end() -> None:
    respx.get(f"{BASE}/DiagnosticReport").mock(
        return_value=httpx.Response(200, content=_chunks(50_000_000))
    )

    async def search(client: FhirClient) -> tuple[str, int]:
        with pytest.raises(FhirError) as caught:
            await client.search("DiagnosticReport", {"patient": "p"})
        return caught.value.kind, client.bytes_read

    kind, read = run(search, max_response_bytes=1_000_000)
    assert kind == "too_large"
    assert read < 1_100_000  # stopped at the budget, not at 50 MB


@respx.mock
def test_a_declared_length_beyond_the_budget_is_refused_unread() -> None:
    body = b'{"resourceType":"Bundle","type":"searchset"}' + b" " * 2_000_000
    respx.get(f"{BASE}/Observation").mock(return_value=httpx.Response(200, content=body))

    async def search(client: FhirClient) -> tuple[str, int, str]:
        with pytest.raises(FhirError) as caught:
            await client.search("Observation", {"patient": "p"})
        return caught.value.kind, client.bytes_read, str(caught.value)

    kind, read, message = run(search, max_response_bytes=1_000_000)
    assert (kind, read) == ("too_large", 0)
    assert "1000000 bytes" in message


@respx.mock
def test_a_gzip_bomb_counts_at_its_decompressed_size() -> None:
    import gzip

    bomb = gzip.compress(b'{"resourceType":"Bundle","entry":[],"x":"' + b"0" * 20_000_000 + b'"}')
    assert len(bomb) < 100_000
    respx.get(f"{BASE}/Observation").mock(
        return_value=httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})
    )

    async def search(client: FhirClient) -> str:
        with pytest.raises(FhirError) as caught:
            await client.search("Observation", {"patient": "p"})
        return caught.value.kind

    assert run(search, max_response_bytes=1_000_000) == "too_large"


@respx.mock
def test_the_call_budget_spans_every_page_and_request() -> None:
    filler = "x" * 300_000

    def big_page(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("page", "1"))
        bundle = page(
            [{"resourceType": "Observation", "id": str(n), "note": filler}],
            f"{BASE}/Observation?page={n + 1}",
        )
        return httpx.Response(200, json=bundle)

    respx.get(f"{BASE}/Observation").mock(side_effect=big_page)
    respx.get(f"{BASE}/Patient/p").mock(
        return_value=httpx.Response(200, json={"resourceType": "Patient", "id": "p"})
    )

    async def calls(client: FhirClient) -> tuple[str, bool, str | None]:
        with pytest.raises(FhirError) as caught:
            await client.search("Observation", {"patient": "p"})
        within = client.bytes_read <= 1_000_000  # the page that would cross it is not read
        # What still fits in the budget is read.
        patient = await client.read("Patient", "p")
        return caught.value.kind, within, str(patient["id"]) if patient else None

    assert run(calls, max_pages=10, max_response_bytes=500_000, max_call_bytes=1_000_000) == (
        "too_large",
        True,
        "p",
    )


@pytest.mark.parametrize(
    "dropped",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("Connection reset by peer"),
    ],
)
@respx.mock
def test_connection_dropped_before_the_answer_is_retried_once(dropped: Exception) -> None:
    # A server closing an idle keep-alive connection just as it is reused: the GET never
    # reached it, so asking again on a new connection is safe, and a chart must not lose
    # its data (412) to the connection pool's timing.
    patient = {"resourceType": "Patient", "id": "p"}
    route = respx.get(f"{BASE}/Patient/p").mock(
        side_effect=[dropped, httpx.Response(200, json=patient)]
    )
    assert run(lambda c: c.read("Patient", "p")) == patient
    assert route.call_count == 2


@respx.mock
def test_connection_dropped_twice_is_unreachable() -> None:
    route = respx.get(f"{BASE}/Patient/p").mock(
        side_effect=httpx.RemoteProtocolError("Server disconnected without sending a response.")
    )
    with pytest.raises(FhirError) as caught:
        run(lambda c: c.read("Patient", "p"))
    assert caught.value.kind == "unreachable"
    assert route.call_count == 2  # one retry, not a loop
