"""FHIR client and prefetch resolution: faults a real server can't easily produce (respx)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from cds_hooks.prefetch import DataUnavailable, PrefetchTooLarge, resolve
from fhir_mappings.client import FhirClient, FhirError

BASE = "https://fhir.example.org/r4"


def page(entries: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in entries],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def obs(i: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": str(i)}


async def _with_client(coro: Any, **kw: Any) -> Any:
    async with httpx.AsyncClient() as http:
        return await coro(FhirClient(http, BASE, "tok", **kw))


@respx.mock
def test_paging_follows_next_on_the_same_base_and_sends_page_size() -> None:
    first = respx.get(f"{BASE}/Observation", params={"patient": "p", "_count": "2"}).mock(
        return_value=httpx.Response(200, json=page([obs(1), obs(2)], f"{BASE}/Observation?p2"))
    )
    respx.get(f"{BASE}/Observation?p2").mock(return_value=httpx.Response(200, json=page([obs(3)])))
    result = asyncio.run(_with_client(lambda c: c.search("Observation?patient=p"), page_size=2))
    assert [r["id"] for r in result.resources] == ["1", "2", "3"]
    assert first.calls[0].request.headers["Authorization"] == "Bearer tok"
    assert not result.truncated


@respx.mock
def test_token_never_goes_to_another_origin_or_tenant() -> None:
    respx.get(f"{BASE}/Observation").mock(
        return_value=httpx.Response(
            200, json=page([obs(1)], "https://evil.example/r4/Observation?page=2")
        )
    )
    elsewhere = respx.get("https://evil.example/r4/Observation").mock(
        return_value=httpx.Response(200, json=page([obs(2)]))
    )
    result = asyncio.run(_with_client(lambda c: c.search("Observation")))
    assert [r["id"] for r in result.resources] == ["1"]
    assert result.truncated
    assert not elsewhere.called
    # Same host, another tenant's path: not under the base either.
    respx.get(f"{BASE}/Condition").mock(
        return_value=httpx.Response(
            200, json=page([], "https://fhir.example.org/other-tenant/Condition?page=2")
        )
    )
    assert asyncio.run(_with_client(lambda c: c.search("Condition"))).truncated


@respx.mock
def test_page_limit_is_a_bound() -> None:
    respx.get(url__startswith=f"{BASE}/Observation").mock(
        side_effect=lambda request: httpx.Response(
            200, json=page([obs(1)], f"{BASE}/Observation?again")
        )
    )
    result = asyncio.run(_with_client(lambda c: c.search("Observation"), max_pages=3))
    assert len(result.resources) == 3
    assert result.truncated


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(401), "unauthorized"),
        (httpx.Response(403), "unauthorized"),
        (httpx.Response(500), "server"),
        (httpx.Response(400), "client"),
        (httpx.Response(200, content=b"<html>oops"), "invalid"),
        (httpx.Response(200, json={"resourceType": "Patient"}), "invalid"),
    ],
)
@respx.mock
def test_errors_are_classified(response: httpx.Response, kind: str) -> None:
    respx.get(f"{BASE}/Observation").mock(return_value=response)
    with pytest.raises(FhirError) as caught:
        asyncio.run(_with_client(lambda c: c.search("Observation")))
    assert caught.value.kind == kind


@respx.mock
def test_transient_503_is_retried_once() -> None:
    route = respx.get(f"{BASE}/Patient/p").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "0"}),
            httpx.Response(200, json={"resourceType": "Patient", "id": "p"}),
        ]
    )
    patient = asyncio.run(_with_client(lambda c: c.read("Patient/p")))
    assert patient == {"resourceType": "Patient", "id": "p"}
    assert route.call_count == 2


@respx.mock
def test_timeout_is_a_timeout() -> None:
    respx.get(f"{BASE}/Patient/p").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(FhirError) as caught:
        asyncio.run(_with_client(lambda c: c.read("Patient/p")))
    assert caught.value.kind == "timeout"


TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
}
CONTEXT = {"patientId": "p 1", "userId": "Practitioner/x"}


def _resolve(prefetch: dict[str, Any] | None, fhir: bool = True, **kw: Any) -> Any:
    async def run() -> Any:
        async with httpx.AsyncClient() as http:
            client = FhirClient(http, BASE, "tok") if fhir else None
            return await resolve(
                prefetch=prefetch,
                templates=TEMPLATES,
                context=CONTEXT,
                fhir=client,
                deadline_seconds=kw.get("deadline", 2.0),
                max_entries=kw.get("max_entries", 100),
            )

    return asyncio.run(run())


@respx.mock
def test_missing_keys_are_fetched_with_context_tokens_encoded() -> None:
    route = respx.get(f"{BASE}/Observation", params={"patient": "p 1"}).mock(
        return_value=httpx.Response(200, json=page([obs(1)]))
    )
    data = _resolve({"patient": {"resourceType": "Patient", "id": "p 1"}, "conditions": None})
    assert route.called
    assert data.fetched == ["observations"]
    assert {r["resourceType"] for r in data.resources} == {"Patient", "Observation"}


@respx.mock
def test_failed_lab_query_is_unavailable_not_fatal() -> None:
    respx.get(f"{BASE}/Observation").mock(return_value=httpx.Response(503))
    data = _resolve({"patient": {"resourceType": "Patient", "id": "p"}, "conditions": None})
    assert data.unavailable == {"Observation": "FHIR server error (503)"}


def test_required_data_without_a_fhir_server_is_data_unavailable() -> None:
    with pytest.raises(DataUnavailable, match="Patient could not be obtained"):
        _resolve({"conditions": None, "observations": None}, fhir=False)


def test_prefetch_entry_bound() -> None:
    many = page([obs(i) for i in range(150)])
    with pytest.raises(PrefetchTooLarge):
        _resolve(
            {
                "patient": {"resourceType": "Patient", "id": "p"},
                "conditions": None,
                "observations": many,
            },
            max_entries=100,
        )


@respx.mock
def test_total_deadline_bounds_a_slow_server() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=page([]))

    respx.get(f"{BASE}/Condition").mock(side_effect=slow)
    with pytest.raises(DataUnavailable, match="too slow"):
        _resolve(
            {"patient": {"resourceType": "Patient", "id": "p"}, "observations": None}, deadline=0.3
        )
