"""Degraded data, over real HTTP against the real FHIR server: a slow lab query makes only
the lab criteria unknown; a required resource (Patient, Conditions) that cannot be had is a
412 naming it. Every response body is validated against the CDS Hooks schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures import generate as g
from tests.fhir_server.launcher import load_fixtures
from tests.support.service import Service, free_port, start_service

pytestmark = pytest.mark.integration
PV = "trial-screening-patient-view"
PATIENTS = Path(__file__).resolve().parents[2] / "fixtures" / "patients"
EXTENSION = "org.trial-cds-hooks.screening"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # Short deadlines: the tests here either get no answer at all (a closed port refuses at
    # once, a delayed type never answers in time) or fetch nothing.
    svc = start_service(
        tmp_path_factory.mktemp("degraded"),
        CDS_FHIR_TIMEOUT_SECONDS="1",
        CDS_FHIR_TOTAL_SECONDS="2",
    )
    yield svc
    svc.stop()


def likely(*, fhir: str | None, prefetch: bool = True) -> dict[str, Any]:
    body = g.hook_request(g.personas()["likely_eligible"][0], "patient-view", prefetch=prefetch)
    if fhir is None:
        body.pop("fhirServer")
    else:
        body["fhirServer"] = fhir
    return body


def test_slow_lab_query_makes_labs_unknown_and_the_rest_is_screened(
    service: Service, start_fhir_server: Any
) -> None:
    # Waits for the service's deadline, and only for it: the labs are the one thing to
    # fetch (everything else is prefetched) and the FHIR server holds Observation answers
    # for 10 min, so the deadline fires first whatever the machine's speed. (Fetching the
    # rest from the server too would make the outcome a race between those answers and
    # the deadline; that "fails alone" path is tests/unit/test_prefetch.py's.)
    fhir = start_fhir_server(delay_ms=600_000, delay_types=["Observation"])
    load_fixtures(fhir, PATIENTS / "likely_eligible" / "bundle.json")
    body = likely(fhir=fhir.base_url)
    del body["prefetch"]["observations"]
    response = service.hook(PV, body)
    assert response.status_code == 200
    (card,) = response.json()["cards"]
    assert card["summary"].startswith("Possibly eligible")
    criteria = {c["id"]: c for c in card["extension"][EXTENSION]["trials"][0]["criteria"]}
    assert criteria["anc"]["status"] == "unknown"
    assert criteria["rectal_adenocarcinoma"]["status"] == "met"
    # The labs that timed out are offered as orders.
    orders = next(s for s in card["suggestions"] if s["label"] == "Order the missing tests")
    assert "751-8" in {a["resource"]["code"]["coding"][0]["code"] for a in orders["actions"]}


@pytest.mark.parametrize(
    ("key", "resource_type"), [("patient", "Patient"), ("conditions", "Condition")]
)
def test_required_resource_unobtainable_is_412_naming_it(
    service: Service, key: str, resource_type: str
) -> None:
    # Nothing listens on the port: refused at once, long before the deadline.
    body = likely(fhir=f"http://127.0.0.1:{free_port()}/fhir")
    del body["prefetch"][key]
    response = service.hook(PV, body)
    assert response.status_code == 412
    message = response.json()["issue"][0]["diagnostics"]
    assert f"{resource_type} could not be obtained" in message
    assert response.json()["issue"][0]["code"] == "incomplete"


def test_required_resource_without_any_fhir_server_is_412(service: Service) -> None:
    body = likely(fhir=None)
    del body["prefetch"]["conditions"]
    response = service.hook(PV, body)
    assert response.status_code == 412
    assert "Condition could not be obtained" in response.json()["issue"][0]["diagnostics"]


def test_error_outcome_for_the_patient_and_server_down_is_412(service: Service) -> None:
    body = likely(fhir=f"http://127.0.0.1:{free_port()}/fhir")  # refused at once
    body["prefetch"]["patient"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception"}],
    }
    response = service.hook(PV, body)
    assert response.status_code == 412
    assert "Patient could not be obtained" in response.json()["issue"][0]["diagnostics"]


def test_missing_lab_prefetch_without_fhir_server_is_screened_as_unknown(
    service: Service,
) -> None:
    body = likely(fhir=None)
    for key in [k for k in body["prefetch"] if k.startswith("observations")]:
        del body["prefetch"][key]
    response = service.hook(PV, body)
    assert response.status_code == 200
    (card,) = response.json()["cards"]
    criteria = {c["id"]: c for c in card["extension"][EXTENSION]["trials"][0]["criteria"]}
    assert criteria["anc"]["status"] == "unknown"
