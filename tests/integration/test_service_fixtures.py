"""The README path: `trial-cds serve` in dev mode, then the fixture hook requests of
fixtures/cds_requests/ POSTed as they are (what `curl -d @fixtures/cds_requests/...` sends).

Every request file is itself a valid CDS Hooks 2.0 request, and every response body is
validated against the vendored schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fhir_server.launcher import FhirServer
from tests.support.cds_schema import assert_response_valid, errors
from tests.support.service import (
    CALL_TIMEOUT_SECONDS,
    SERVICE_FHIR_DEADLINE_SECONDS,
    free_port,
    wait_until_listening,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
REQUESTS = ROOT / "fixtures" / "cds_requests"


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((REQUESTS / name).read_text())
    return body


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`trial-cds serve`, as the README runs it (dev mode, demo screening date), on a port the
    kernel picks (`--port 0`); yielded once uvicorn says it is serving."""
    tmp = tmp_path_factory.mktemp("serve")
    env = {
        **os.environ,
        "CDS_DEV_MODE": "1",
        "CDS_AS_OF": "2026-03-02",
        "DATABASE_URL": f"sqlite:///{tmp}/feedback.sqlite3",
        # As start_service: no test here is about FHIR deadlines.
        "CDS_FHIR_TIMEOUT_SECONDS": str(SERVICE_FHIR_DEADLINE_SECONDS),
        "CDS_FHIR_TOTAL_SECONDS": str(SERVICE_FHIR_DEADLINE_SECONDS),
    }
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("trial-cds")), "serve", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        port = wait_until_listening(process, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        # Waits for the exit: no server outlives its test module.
        process.terminate()
        process.wait(timeout=30)


def post(base: str, service: str, body: Any) -> httpx.Response:
    path = f"/cds-services/{service}"
    # As curl -d sends it: the file's bytes, with Content-Type application/json.
    response = httpx.post(
        base + path,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        timeout=CALL_TIMEOUT_SECONDS,
    )
    assert_response_valid(response.status_code, response.json(), path)
    return response


@pytest.mark.parametrize("name", sorted(p.name for p in REQUESTS.glob("*.json")))
def test_fixture_requests_are_valid_cds_hooks_requests(name: str) -> None:
    assert errors(fixture(name), "hookRequestByHook", strict=False) == []


def test_readme_curl_returns_a_referral_card(served: str) -> None:
    response = post(
        served, "trial-screening-patient-view", fixture("patient-view-likely-eligible.json")
    )
    assert response.status_code == 200
    (card,) = response.json()["cards"]
    assert card["indicator"] == "info"
    assert card["summary"].startswith("May be eligible")
    referral = card["suggestions"][0]
    assert referral["label"] == "Refer to trial coordinator"
    assert referral["isRecommended"] is True
    assert referral["actions"][0]["resource"]["resourceType"] == "ServiceRequest"


@pytest.mark.parametrize(
    ("name", "service", "summaries"),
    [
        (
            "patient-view-possibly-eligible.json",
            "trial-screening-patient-view",
            ["Possibly eligible"],
        ),
        ("patient-view-not-eligible.json", "trial-screening-patient-view", []),
        ("order-sign-capecitabine.json", "trial-screening-order-sign", ["Consider trial"]),
        ("order-select-capecitabine.json", "trial-screening-order-select", ["Consider trial"]),
    ],
)
def test_fixture_requests_answer_as_their_names_say(
    served: str, name: str, service: str, summaries: list[str]
) -> None:
    response = post(served, service, fixture(name))
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert len(cards) == len(summaries)
    for card, start in zip(cards, summaries, strict=True):
        assert card["summary"].startswith(start)
        assert card["indicator"] == (
            "warning" if service != "trial-screening-patient-view" else "info"
        )


def test_no_prefetch_fixture_is_fetched_from_the_fhir_server(
    served: str, loaded_fhir_server: FhirServer
) -> None:
    body = fixture("patient-view-no-prefetch.json")
    assert "prefetch" not in body
    body["fhirServer"] = loaded_fhir_server.base_url
    response = post(served, "trial-screening-patient-view", body)
    assert response.status_code == 200
    (card,) = response.json()["cards"]
    assert card["summary"].startswith("May be eligible")


def test_no_prefetch_and_no_reachable_fhir_server_is_412(served: str) -> None:
    body = fixture("patient-view-no-prefetch.json")
    body["fhirServer"] = f"http://127.0.0.1:{free_port()}/fhir"  # refused at once
    response = post(served, "trial-screening-patient-view", body)
    assert response.status_code == 412
    assert "Patient could not be obtained" in response.json()["issue"][0]["diagnostics"]
