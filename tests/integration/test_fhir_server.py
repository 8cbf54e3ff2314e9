"""The test FHIR server itself (tests/fhir_server): the searches, paging and fault options
the service's integration tests rely on, checked over real HTTP.

Servers are used once they print LISTENING (tests.fhir_server.launcher.start); every check
waits for the server's answer. Only the delay tests involve time, and they say how."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fhir_server.launcher import FhirServer, StartFhirServer

pytestmark = pytest.mark.integration

LOINC = "http://loinc.org"
HEMOGLOBIN, PLATELETS, CREATININE = "718-7", "777-3", "2160-0"


def observation(oid: str, patient: str, code: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": 1, "unit": "g/dL"},
    }


def put_all(base_url: str, resources: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }
    response = httpx.post(base_url, json=bundle, timeout=30, **kw)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def search(base_url: str, path: str, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{base_url}/{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "Bundle"
    return body


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def next_link(bundle: dict[str, Any]) -> str | None:
    return next((ln["url"] for ln in bundle.get("link", []) if ln["relation"] == "next"), None)


@pytest.fixture(scope="module")
def patient_with_labs(fhir_server: FhirServer) -> str:
    """A patient with labs of three codes on distinct dates, plus medication requests."""
    pid = "fs-labs"
    put_all(
        fhir_server.base_url,
        [
            {"resourceType": "Patient", "id": pid, "birthDate": "1960-01-01"},
            observation("fs-labs-hb-1", pid, HEMOGLOBIN, "2024-03-01"),
            observation("fs-labs-hb-2", pid, HEMOGLOBIN, "2025-06-01"),
            observation("fs-labs-plt", pid, PLATELETS, "2025-01-15"),
            observation("fs-labs-crea", pid, CREATININE, "2025-09-30"),
            # Another patient's lab with a matching code must never show up.
            {"resourceType": "Patient", "id": "fs-other"},
            observation("fs-other-hb", "fs-other", HEMOGLOBIN, "2025-06-01"),
            *[
                {
                    "resourceType": "MedicationRequest",
                    "id": f"fs-labs-med-{status}",
                    "status": status,
                    "intent": "order",
                    "subject": {"reference": f"Patient/{pid}"},
                    "medicationCodeableConcept": {"text": "apixaban"},
                }
                for status in ("active", "stopped")
            ],
        ],
    )
    return pid


def test_metadata_is_an_r4_capability_statement(fhir_server: FhirServer) -> None:
    response = httpx.get(f"{fhir_server.base_url}/metadata", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"


def test_transaction_then_read(fhir_server: FhirServer) -> None:
    answer = put_all(fhir_server.base_url, [{"resourceType": "Patient", "id": "fs-read"}])
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"][:1] for e in answer["entry"]] == ["2"]
    read = httpx.get(f"{fhir_server.base_url}/Patient/fs-read", timeout=10)
    assert read.status_code == 200
    assert read.json()["id"] == "fs-read"
    missing = httpx.get(f"{fhir_server.base_url}/Patient/fs-no-such-patient", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


def test_patient_and_subject_searches_agree(
    fhir_server: FhirServer, patient_with_labs: str
) -> None:
    by_patient = search(fhir_server.base_url, "Observation", patient=patient_with_labs)
    by_subject = search(fhir_server.base_url, "Observation", subject=f"Patient/{patient_with_labs}")
    expected = {"fs-labs-hb-1", "fs-labs-hb-2", "fs-labs-plt", "fs-labs-crea"}
    assert set(ids(by_patient)) == expected
    assert set(ids(by_subject)) == expected
    assert by_patient["total"] == 4


def test_code_search_with_several_system_code_pairs(
    fhir_server: FhirServer, patient_with_labs: str
) -> None:
    found = search(
        fhir_server.base_url,
        "Observation",
        patient=patient_with_labs,
        code=f"{LOINC}|{HEMOGLOBIN},{LOINC}|{PLATELETS}",
    )
    assert set(ids(found)) == {"fs-labs-hb-1", "fs-labs-hb-2", "fs-labs-plt"}
    # The system is part of the match, not just the code.
    other_system = search(
        fhir_server.base_url, "Observation", patient=patient_with_labs, code=f"urn:x|{HEMOGLOBIN}"
    )
    assert ids(other_system) == []


def test_date_filter_and_descending_sort(fhir_server: FhirServer, patient_with_labs: str) -> None:
    found = search(
        fhir_server.base_url,
        "Observation",
        patient=patient_with_labs,
        date="ge2025-01-01",
        _sort="-date",
    )
    assert ids(found) == ["fs-labs-crea", "fs-labs-hb-2", "fs-labs-plt"]


def test_status_filter_and_include(fhir_server: FhirServer, patient_with_labs: str) -> None:
    active = search(
        fhir_server.base_url,
        "MedicationRequest",
        patient=patient_with_labs,
        status="active",
        _include="MedicationRequest:subject",
    )
    assert ids(active) == ["fs-labs-med-active"]
    assert ids(active, mode="include") == [patient_with_labs]


def test_paging_follows_next_links_to_every_match(fhir_server: FhirServer) -> None:
    pid = "fs-paging"
    put_all(
        fhir_server.base_url,
        [
            {"resourceType": "Patient", "id": pid},
            *[observation(f"{pid}-{i}", pid, HEMOGLOBIN, f"2025-01-0{i + 1}") for i in range(5)],
        ],
    )
    page = search(fhir_server.base_url, "Observation", patient=pid, _count="2")
    assert page["total"] == 5
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert len(ids(page)) <= 2
        seen += ids(page)
        url = next_link(page)
        if url is None:
            break
        # Absolute links on the server's own origin, as FHIR requires.
        assert url.startswith(f"{fhir_server.base_url}/Observation?")
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        page = response.json()
    assert pages == 3
    assert sorted(seen) == [f"{pid}-{i}" for i in range(5)]


def test_no_count_returns_more_than_the_engines_default_page(fhir_server: FhirServer) -> None:
    # Medplum alone would stop at 20 entries without a next link.
    pid = "fs-many"
    labs = [observation(f"{pid}-{i}", pid, PLATELETS, "2025-02-01") for i in range(25)]
    put_all(fhir_server.base_url, [{"resourceType": "Patient", "id": pid}, *labs])
    found = search(fhir_server.base_url, "Observation", patient=pid)
    assert len(ids(found)) == 25
    assert next_link(found) is None


def test_included_resources_travel_with_each_page(fhir_server: FhirServer) -> None:
    pid = "fs-include-pages"
    labs = [observation(f"{pid}-{i}", pid, CREATININE, "2025-03-01") for i in range(3)]
    put_all(fhir_server.base_url, [{"resourceType": "Patient", "id": pid}, *labs])
    first = search(
        fhir_server.base_url,
        "Observation",
        patient=pid,
        _count="2",
        _include="Observation:subject",
    )
    assert len(ids(first)) == 2
    assert ids(first, mode="include") == [pid]
    url = next_link(first)
    assert url is not None
    second = httpx.get(url, timeout=10).json()
    assert len(ids(second)) == 1
    assert ids(second, mode="include") == [pid]
    assert first["total"] == 3  # matches only, not the included Patient


def test_bad_count_is_a_400_operation_outcome(fhir_server: FhirServer) -> None:
    response = httpx.get(f"{fhir_server.base_url}/Observation", params={"_count": "x"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_required_token(start_fhir_server: StartFhirServer) -> None:
    server = start_fhir_server(token="right-token")
    url = f"{server.base_url}/Patient"
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "right-token"}):
        refused = httpx.get(url, headers=headers, timeout=10)
        assert refused.status_code == 401
        assert refused.json()["resourceType"] == "OperationOutcome"
    assert httpx.get(url, headers=server.auth_headers, timeout=10).status_code == 200
    log = server.requests()
    assert [r["status"] for r in log] == [401, 401, 401, 200]
    assert [r["authorization"] for r in log] == ["none", "bearer", "other", "bearer"]
    assert "right-token" not in str(log)


def test_delay_makes_a_client_timeout_fire(start_fhir_server: StartFhirServer) -> None:
    # The delay is a floor (the server waits 2 s before it answers), so a 0.3 s client
    # timeout fires whatever the machine's speed; the second call waits for the answer.
    server = start_fhir_server(delay_ms=2000)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{server.base_url}/Patient", timeout=0.3)
    assert httpx.get(f"{server.base_url}/Patient", timeout=120).status_code == 200


def test_delay_and_failure_limited_to_one_resource_type(start_fhir_server: StartFhirServer) -> None:
    # Observation answers are held for 10 min: a Patient answer within the 120 s timeout
    # shows Patient is not delayed (on any machine), and the 0.5 s timeout on Observation
    # fires for certain.
    slow = start_fhir_server(delay_ms=600_000, delay_types=["Observation"])
    assert httpx.get(f"{slow.base_url}/Patient", timeout=120).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{slow.base_url}/Observation", timeout=0.5)

    failing = start_fhir_server(fail_types=["Observation"])
    assert httpx.get(f"{failing.base_url}/Patient", timeout=10).status_code == 200
    broken = httpx.get(f"{failing.base_url}/Observation", params={"patient": "x"}, timeout=10)
    assert broken.status_code == 500
    assert broken.json()["resourceType"] == "OperationOutcome"


def test_link_origin_points_paging_links_elsewhere(start_fhir_server: StartFhirServer) -> None:
    server = start_fhir_server(link_origin="http://127.0.0.1:9")
    put_all(
        server.base_url,
        [observation(f"fs-link-{i}", "fs-link", HEMOGLOBIN, "2025-01-01") for i in range(2)],
    )
    page = search(server.base_url, "Observation", _count="1")
    url = next_link(page)
    assert url is not None
    assert url.startswith("http://127.0.0.1:9/fhir/Observation?")


def test_server_exits_when_its_parent_closes_stdin(start_fhir_server: StartFhirServer) -> None:
    server = start_fhir_server()
    assert server.process.stdin is not None
    server.process.stdin.close()
    # Waits for the process to exit on stdin EOF; the timeout only bounds a server that
    # ignores it.
    assert server.process.wait(timeout=60) == 0
