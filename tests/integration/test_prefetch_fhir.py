"""Prefetch resolution against the real FHIR server (tests/fhir_server): every page, every
key in parallel, a paginated prefetch completed, the token kept to the server.

Each test starts its own server (used once it prints LISTENING), loads its patient with the
real CLI (waited for) and resolves with deadlines far beyond any answer time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.prefetch import (
    DataUnavailable,
    ResolvedData,
    key_type,
    prefetch_templates,
    resolve_data,
)
from fhir_mappings.client import FhirClient
from tests.fhir_server.launcher import FhirServer, load_fixtures

PATIENT_ID = "prefetch-paging"
OBSERVATIONS = 30
PAGE_SIZE = 10


@pytest.fixture(scope="module")
def templates() -> dict[str, str]:
    engine = Engine.default()
    return prefetch_templates(list(engine.trials.values()), engine.terminology)


@pytest.fixture(scope="module")
def lab_code() -> tuple[str, str]:
    """A code the generated Observation template asks for (the code filter applies)."""
    engine = Engine.default()
    return min(engine.terminology.code_set("anc").codes)


def patient_bundle(lab_code: tuple[str, str]) -> dict[str, Any]:
    subject = {"reference": f"Patient/{PATIENT_ID}"}
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "gender": "female",
            "birthDate": "1960-02-03",
        },
        {
            "resourceType": "Condition",
            "id": f"{PATIENT_ID}-c1",
            "subject": subject,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254582000"}]},
        },
    ]
    system, code = lab_code
    for i in range(OBSERVATIONS):
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"{PATIENT_ID}-o{i:02d}",
                "status": "final",
                "code": {"coding": [{"system": system, "code": code}]},
                "subject": subject,
                "effectiveDateTime": f"2026-01-{i % 28 + 1:02d}T08:00:00Z",
                "valueQuantity": {
                    "value": 2 + i / 10,
                    "unit": "10*9/L",
                    "system": "http://unitsofmeasure.org",
                    "code": "10*9/L",
                },
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def load_patient(server: FhirServer, tmp_path: Path, lab_code: tuple[str, str]) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(patient_bundle(lab_code)), encoding="utf-8")
    load_fixtures(server, path)
    server.clear_requests()


class InFlight:
    """httpx event hooks counting concurrent requests: the most in flight at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def request(self, request: httpx.Request) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    async def response(self, response: httpx.Response) -> None:
        self.now -= 1


def resolve(
    server: FhirServer,
    templates: Mapping[str, str],
    *,
    prefetch: Mapping[str, Any] | None = None,
    token: str | None = None,
    in_flight: InFlight | None = None,
) -> ResolvedData:
    async def main() -> ResolvedData:
        hooks: dict[str, list[Any]] = {}
        if in_flight is not None:
            hooks = {"request": [in_flight.request], "response": [in_flight.response]}
        async with httpx.AsyncClient(event_hooks=hooks) as http:
            # Timeout and deadline far beyond any answer time: no test here is about them
            # (a loaded machine has taken seconds per search).
            fhir = FhirClient(
                http, server.base_url, token, page_size=PAGE_SIZE, max_pages=10, timeout=120
            )
            return await resolve_data(
                prefetch=prefetch,
                templates=templates,
                context={"patientId": PATIENT_ID, "userId": "Practitioner/dr-1"},
                fhir=fhir,
                deadline_seconds=120.0,
                max_entries=1000,
            )

    return asyncio.run(main())


def observation_ids(data: ResolvedData) -> list[str]:
    return sorted(str(r["id"]) for r in data.resources if r["resourceType"] == "Observation")


EXPECTED_OBSERVATIONS = sorted(f"{PATIENT_ID}-o{i:02d}" for i in range(OBSERVATIONS))


def test_no_prefetch_fetches_every_key_and_every_page(
    start_fhir_server: Any, tmp_path: Path, templates: dict[str, str], lab_code: tuple[str, str]
) -> None:
    server = start_fhir_server()
    load_patient(server, tmp_path, lab_code)
    data = resolve(server, templates)
    assert data.unavailable == {}
    assert data.fetched == list(templates)
    assert observation_ids(data) == EXPECTED_OBSERVATIONS
    assert [r["id"] for r in data.resources if r["resourceType"] == "Patient"] == [PATIENT_ID]
    pages = [r for r in server.requests() if r["url"].startswith("/fhir/Observation")]
    # The lab's part of the split code list is paged; each other part is one empty page.
    parts = [k for k in templates if key_type(k) == "Observation"]
    paged = OBSERVATIONS // PAGE_SIZE + (1 if OBSERVATIONS % PAGE_SIZE else 0)
    assert len(pages) == paged + len(parts) - 1
    assert all(f"_count={PAGE_SIZE}" in r["url"] for r in pages)
    # The generated code filter reached the server on the first page.
    assert "code=" in pages[0]["url"]


def test_missing_keys_are_fetched_in_parallel(
    start_fhir_server: Any, tmp_path: Path, templates: dict[str, str], lab_code: tuple[str, str]
) -> None:
    # Every answer is held back 400 ms, and all first requests are sent in the same turn of
    # the event loop before any answer can arrive, so parallel requests overlap for certain
    # (the delay is a floor, so a slow machine only widens the overlap); fetched one key
    # after the other, at most one request would ever be in flight.
    server = start_fhir_server(delay_ms=400)
    load_patient(server, tmp_path, lab_code)
    in_flight = InFlight()
    data = resolve(server, templates, in_flight=in_flight)
    assert observation_ids(data) == EXPECTED_OBSERVATIONS
    assert in_flight.most == len(templates)


def test_a_paginated_prefetch_is_completed_from_the_server(
    start_fhir_server: Any, tmp_path: Path, templates: dict[str, str], lab_code: tuple[str, str]
) -> None:
    server = start_fhir_server(token="right-token")
    load_patient(server, tmp_path, lab_code)
    # The EHR's prefetch: the first page of the Observation search, with its next link.
    token = quote("|".join(lab_code), safe="")
    key = next(k for k, template in templates.items() if token in template)
    query = templates[key].replace("{{context.patientId}}", PATIENT_ID)
    first = httpx.get(
        f"{server.base_url}/{query}&_count={PAGE_SIZE}", headers=server.auth_headers, timeout=10
    ).json()
    assert len(first["entry"]) == PAGE_SIZE
    patient = httpx.get(
        f"{server.base_url}/Patient/{PATIENT_ID}", headers=server.auth_headers, timeout=10
    ).json()
    server.clear_requests()
    prefetch = {k: None for k in templates} | {"patient": patient, key: first}
    data = resolve(server, templates, prefetch=prefetch, token="right-token")
    assert observation_ids(data) == EXPECTED_OBSERVATIONS
    assert data.fetched == []
    requests = server.requests()
    assert len(requests) == 2  # pages 2 and 3 only; nothing else asked again
    assert all(r["authorization"] == "bearer" and r["status"] == 200 for r in requests)


def test_a_wrong_token_is_data_unavailable(
    start_fhir_server: Any, tmp_path: Path, templates: dict[str, str], lab_code: tuple[str, str]
) -> None:
    server = start_fhir_server(token="right-token")
    load_patient(server, tmp_path, lab_code)
    with pytest.raises(DataUnavailable, match=r"Patient could not be obtained: .*\(401\)"):
        resolve(server, templates, token="expired-token")


def test_next_links_elsewhere_are_not_followed(
    start_fhir_server: Any, tmp_path: Path, templates: dict[str, str], lab_code: tuple[str, str]
) -> None:
    server = start_fhir_server(link_origin="http://127.0.0.1:9")
    load_patient(server, tmp_path, lab_code)
    data = resolve(server, templates, token="a-token")
    assert len(observation_ids(data)) == PAGE_SIZE  # the first page only
    assert "outside the FHIR server" in data.unavailable["Observation"]
    assert all(not r["url"].startswith("http") for r in server.requests())
