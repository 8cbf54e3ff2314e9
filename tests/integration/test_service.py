"""The service over real HTTP, against the real (Node, Medplum) FHIR server.

Every response body is validated against the vendored CDS Hooks 2.0 schema (strict variant
for what we produce) by tests.support.service.Service.call.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.cards import RESULT_EXTENSION
from fixtures import generate as g
from tests.fhir_server.launcher import FhirServer, load_fixtures
from tests.support.service import Service, start_service

pytestmark = pytest.mark.integration
PV, SIGN, SELECT = (
    "trial-screening-patient-view",
    "trial-screening-order-sign",
    "trial-screening-order-select",
)
PATIENTS = Path(__file__).resolve().parents[2] / "fixtures" / "patients"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # The in-memory test server scans every loaded resource per search: with all fixture
    # personas of the four trials loaded, an Observation search takes seconds on a busy
    # machine, so the limits leave room for that and the slow-server test waits longer.
    svc = start_service(
        tmp_path_factory.mktemp("svc"),
        CDS_FHIR_TIMEOUT_SECONDS="6",
        CDS_FHIR_TOTAL_SECONDS="8",
        CDS_CORS_ORIGINS="https://sandbox.cds-hooks.org",
    )
    yield svc
    svc.stop()


PEOPLE = g.personas()


def request(
    persona: str,
    hook: str = "patient-view",
    *,
    fhir: str | None = None,
    prefetch: bool = True,
    **kw: Any,
) -> dict[str, Any]:
    body = g.hook_request(PEOPLE[persona][0], hook, prefetch=prefetch, **kw)
    if fhir is None:
        body.pop("fhirServer")
    else:
        body["fhirServer"] = fhir
    return body


def the_card(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert len(cards) == 1, cards
    card: dict[str, Any] = cards[0]
    return card


def test_discovery_lists_one_service_per_hook_with_generated_prefetch(service: Service) -> None:
    services = service.call("GET", "/cds-services").json()["services"]
    assert {s["hook"]: s["id"] for s in services} == {
        "patient-view": PV,
        "order-select": SELECT,
        "order-sign": SIGN,
    }
    prefetch = services[0]["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    # The Observation query is generated from the trial's code sets, not typed by hand.
    observations = " ".join(v for k, v in prefetch.items() if k.startswith("observations"))
    assert "http%3A%2F%2Floinc.org%7C751-8" in observations
    assert "81695-9" in observations
    # Derived from the rules' reads: prior immunotherapy is history (any status), and
    # allergies, statements and procedures are read by the loaded trials.
    assert prefetch["medications"] == "MedicationRequest?patient={{context.patientId}}"
    assert {"allergies", "medication_statements", "procedures"} <= set(prefetch)
    assert "Recruiting trials:" in services[0]["description"]
    assert "NCT06462053" in services[0]["description"]
    assert "NCT01558921" not in services[0]["description"]


def test_likely_eligible_gets_referral_card(service: Service) -> None:
    card = the_card(service.hook(PV, request("likely_eligible")))
    assert card["indicator"] == "info"
    assert len(card["summary"]) < 140
    assert "SCRT" in card["summary"]
    assert card["selectionBehavior"] == "at-most-one"
    referral = card["suggestions"][0]
    assert referral["label"] == "Refer to trial coordinator"
    action = referral["actions"][0]
    assert action["type"] == "create"
    assert action["resource"]["resourceType"] == "ServiceRequest"
    assert action["resource"]["subject"] == {"reference": "Patient/likely-eligible"}
    assert {r["code"] for r in card["overrideReasons"]} == {
        "patient-declined",
        "not-a-candidate",
        "already-screened",
        "other",
    }
    assert card["links"][0]["url"] == "https://clinicaltrials.gov/study/NCT06850103"
    assert card["uuid"]
    assert referral["uuid"]
    # The full result travels with the card, in the `trial-cds screen --format json` shape.
    expected = json.loads((PATIENTS / "likely_eligible" / "expected.json").read_text())
    assert card["extension"][RESULT_EXTENSION] == expected
    assert "Needs the study team" in card["detail"]


def test_possibly_eligible_lists_unknowns_and_orders_missing_tests(service: Service) -> None:
    card = the_card(service.hook(PV, request("data_quality_unknowns")))
    assert card["summary"].startswith("Possibly eligible")
    assert "Still unknown" in card["detail"]
    assert "no result in the last 28 days" in card["detail"]
    orders = next(s for s in card["suggestions"] if s["label"] == "Order the missing tests")
    codes = {a["resource"]["code"]["coding"][0]["code"] for a in orders["actions"]}
    assert {"751-8", "777-3", "718-7", "1751-7", "6301-6"} <= codes


@pytest.mark.parametrize(
    "persona", ["msi_high", "age_17", "colon_cancer_only", "refuted_diagnosis"]
)
def test_no_card_when_not_eligible_or_no_target_disease(service: Service, persona: str) -> None:
    response = service.hook(PV, request(persona))
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_no_prefetch_fetches_everything_from_the_fhir_server(
    service: Service, loaded_fhir_server: FhirServer
) -> None:
    loaded_fhir_server.clear_requests()
    body = request("likely_eligible", fhir=loaded_fhir_server.base_url, prefetch=False)
    card = the_card(service.hook(PV, body))
    assert card["summary"].startswith("May be eligible")
    paths = {r["url"].split("?")[0] for r in loaded_fhir_server.requests()}
    assert paths >= {
        "/fhir/Patient/likely-eligible",
        "/fhir/Condition",
        "/fhir/Observation",
        "/fhir/MedicationRequest",
        "/fhir/Procedure",
        "/fhir/DiagnosticReport",
    }


def test_partial_prefetch_fetches_only_what_is_missing(
    service: Service, loaded_fhir_server: FhirServer
) -> None:
    body = request("likely_eligible", fhir=loaded_fhir_server.base_url)
    parts = [k for k in body["prefetch"] if k.startswith("observations")]
    for key in parts:  # every part of the split lab search
        del body["prefetch"][key]
    loaded_fhir_server.clear_requests()
    card = the_card(service.hook(PV, body))
    assert card["summary"].startswith("May be eligible")
    fetched = [r["url"].split("?")[0] for r in loaded_fhir_server.requests()]
    assert fetched == ["/fhir/Observation"] * len(parts)


def test_null_prefetch_means_nothing_found_and_is_not_refetched(
    service: Service, loaded_fhir_server: FhirServer
) -> None:
    body = request("likely_eligible", fhir=loaded_fhir_server.base_url)
    for key in [k for k in body["prefetch"] if k.startswith("observations")]:
        body["prefetch"][key] = None
    loaded_fhir_server.clear_requests()
    card = the_card(service.hook(PV, body))
    assert loaded_fhir_server.requests() == []
    result = card["extension"][RESULT_EXTENSION]["trials"][0]
    anc = next(c for c in result["criteria"] if c["id"] == "anc")
    assert anc["status"] == "unknown"


def test_operation_outcome_in_prefetch_is_fetched_ourselves(
    service: Service, loaded_fhir_server: FhirServer
) -> None:
    body = request("likely_eligible", fhir=loaded_fhir_server.base_url)
    body["prefetch"]["observations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception", "diagnostics": "timeout"}],
    }
    # Epic-style warning entries inside a Bundle are ignored, not treated as failure.
    body["prefetch"]["conditions"]["entry"].append(
        {
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "warning", "code": "informational"}],
            },
            "search": {"mode": "outcome"},
        }
    )
    loaded_fhir_server.clear_requests()
    card = the_card(service.hook(PV, body))
    assert card["summary"].startswith("May be eligible")
    assert [r["url"].split("?")[0] for r in loaded_fhir_server.requests()] == ["/fhir/Observation"]


def test_paging_follows_next_links(tmp_path: Path, start_fhir_server: Any) -> None:
    from benchmarks.synth import realistic_patient

    fhir = start_fhir_server()
    persona = realistic_patient("paged", observations=120)
    bundle_path = tmp_path / "paged" / "bundle.json"
    bundle_path.parent.mkdir()
    bundle_path.write_text(json.dumps(persona.bundle("collection")))
    load_fixtures(fhir, bundle_path)
    svc = start_service(tmp_path, CDS_FHIR_PAGE_SIZE="25")
    try:
        body = g.hook_request(persona, "patient-view", prefetch=False)
        body["fhirServer"] = fhir.base_url
        card = the_card(svc.hook(PV, body))
        assert card["summary"].startswith("May be eligible")
        pages = [r for r in fhir.requests() if r["url"].startswith("/fhir/Observation")]
        assert len(pages) >= 5  # 120 Observations at 25 a page
    finally:
        svc.stop()


def test_wrong_token_is_412(service: Service, start_fhir_server: Any) -> None:
    fhir = start_fhir_server(token="right-token")
    body = request("likely_eligible", fhir=fhir.base_url, prefetch=False)
    body["fhirAuthorization"] = {
        "access_token": "wrong-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "trial-cds",
    }
    response = service.hook(PV, body)
    assert response.status_code == 412
    assert "Patient could not be obtained" in response.json()["issue"][0]["diagnostics"]


def test_right_token_is_sent_to_the_fhir_server(service: Service, start_fhir_server: Any) -> None:
    fhir = start_fhir_server(token="right-token")
    load_fixtures(fhir, PATIENTS / "likely_eligible" / "bundle.json")
    body = request("likely_eligible", fhir=fhir.base_url, prefetch=False)
    body["fhirAuthorization"] = {
        "access_token": "right-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "trial-cds",
    }
    assert the_card(service.hook(PV, body))["summary"].startswith("May be eligible")


def test_fhir_server_down_is_412(service: Service) -> None:
    from tests.support.service import free_port

    body = request("likely_eligible", fhir=f"http://127.0.0.1:{free_port()}/fhir", prefetch=False)
    response = service.hook(PV, body)
    assert response.status_code == 412
    assert "unreachable" in response.json()["issue"][0]["diagnostics"]


def test_slow_fhir_server_times_out_as_412(service: Service, start_fhir_server: Any) -> None:
    fhir = start_fhir_server(delay_ms=10000)  # beyond the service's 8 s FHIR budget
    response = service.hook(PV, request("likely_eligible", fhir=fhir.base_url, prefetch=False))
    assert response.status_code == 412


def test_failed_lab_query_makes_labs_unknown_not_the_call(
    service: Service, start_fhir_server: Any
) -> None:
    fhir = start_fhir_server(fail_types=["Observation"])
    load_fixtures(fhir, PATIENTS / "likely_eligible" / "bundle.json")
    card = the_card(
        service.hook(PV, request("likely_eligible", fhir=fhir.base_url, prefetch=False))
    )
    result = card["extension"][RESULT_EXTENSION]["trials"][0]
    by_id = {c["id"]: c for c in result["criteria"]}
    assert by_id["anc"]["status"] == "unknown"
    assert "FHIR server error" in by_id["anc"]["reason"]
    assert by_id["rectal_adenocarcinoma"]["status"] == "met"


def test_paging_link_to_another_origin_is_not_followed(
    service: Service, start_fhir_server: Any
) -> None:
    fhir = start_fhir_server(link_origin="http://127.0.0.1:9")
    load_fixtures(fhir, PATIENTS / "likely_eligible" / "bundle.json")
    body = request("likely_eligible", fhir=fhir.base_url, prefetch=False)
    response = service.hook(PV, body)
    assert response.status_code == 200  # the first pages are used; nothing sent elsewhere


def test_order_sign_with_treatment_order_warns(service: Service) -> None:
    body = request("likely_eligible", "order-sign", draft_orders=[g.CAPECITABINE_ORDER])
    card = the_card(service.hook(SIGN, body))
    assert card["indicator"] == "warning"
    assert "before starting capecitabine" in card["summary"]


def test_order_select_without_treatment_order_is_quiet(service: Service) -> None:
    order = copy.deepcopy(g.CAPECITABINE_ORDER)
    order["medicationCodeableConcept"] = {
        "coding": [{"system": g.RX, "code": "6809"}],
        "text": "metformin",
    }
    body = request("likely_eligible", "order-select", draft_orders=[order])
    assert service.hook(SELECT, body).json() == {"cards": []}


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [
        (lambda b: b.pop("hookInstance"), 400, "hookInstance"),
        (lambda b: b["context"].pop("patientId"), 400, "patientId"),
        (lambda b: b.update(hook="order-sign"), 400, "/context"),
        (lambda b: b.update(prefetch={"patient": "Patient/1"}), 400, "/prefetch/patient"),
    ],
)
def test_bad_requests_are_400_naming_the_field(
    service: Service, mutate: Any, status: int, message: str
) -> None:
    body = request("likely_eligible")
    mutate(body)
    response = service.hook(PV, body)
    assert response.status_code == status
    assert message in response.json()["issue"][0]["diagnostics"]


def test_hook_of_another_service_is_400(service: Service) -> None:
    body = request("likely_eligible", "order-sign", draft_orders=[g.CAPECITABINE_ORDER])
    response = service.hook(PV, body)
    assert response.status_code == 400
    assert "answers 'patient-view'" in response.json()["issue"][0]["diagnostics"]


def test_selections_must_be_in_draft_orders(service: Service) -> None:
    body = request("likely_eligible", "order-select", draft_orders=[g.CAPECITABINE_ORDER])
    body["context"]["selections"] = ["MedicationRequest/not-there"]
    response = service.hook(SELECT, body)
    assert response.status_code == 400
    assert "selections" in response.json()["issue"][0]["diagnostics"]


def test_transport_errors(service: Service) -> None:
    not_json = service.hook(PV, None, raw=b"{not json")
    assert not_json.status_code == 400
    assert not_json.json()["resourceType"] == "OperationOutcome"
    assert service.hook("no-such-service", request("likely_eligible")).status_code == 404
    assert service.call("GET", f"/cds-services/{PV}").status_code == 405
    deep = b"[" * 200 + b"]" * 200
    assert service.hook(PV, None, raw=deep).status_code == 400
    huge = b'{"x": "' + b"a" * 6_000_000 + b'"}'
    assert service.hook(PV, None, raw=huge).status_code == 413


def test_cors_preflight_allows_the_sandbox(service: Service) -> None:
    response = service.call(
        "OPTIONS",
        f"/cds-services/{PV}",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    refused = service.call(
        "OPTIONS",
        f"/cds-services/{PV}",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers


def _feedback(
    card: dict[str, Any], outcome: str, reason: str | None = None, ts: str = "2026-03-02T10:00:00Z"
) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": ts}
    if outcome == "accepted":
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    if reason:
        item["overrideReason"] = {
            "reason": {
                "system": card["overrideReasons"][0]["system"],
                "code": reason,
                "display": reason,
            }
        }
    return {"feedback": [item]}


def test_feedback_is_idempotent_and_declined_cards_are_suppressed(service: Service) -> None:
    body = request("si_units_alternate_codes")
    card = the_card(service.hook(PV, body))
    path = f"/cds-services/{PV}/feedback"
    first = service.call("POST", path, _feedback(card, "overridden", "patient-declined"))
    assert first.status_code == 200
    assert first.json()["new"] == 1
    retry = service.call("POST", path, _feedback(card, "overridden", "patient-declined"))
    assert retry.json()["new"] == 0
    # Declined: the same patient and trial get no card while the status is unchanged.
    assert service.hook(PV, body).json() == {"cards": []}
    # Another patient is unaffected.
    assert the_card(service.hook(PV, request("likely_eligible")))


def test_invalid_feedback_is_400(service: Service) -> None:
    response = service.call(
        "POST",
        f"/cds-services/{PV}/feedback",
        {
            "feedback": [
                {"card": "x", "outcome": "maybe", "outcomeTimestamp": "2026-03-02T10:00:00Z"}
            ]
        },
    )
    assert response.status_code == 400
    assert "outcome" in response.json()["issue"][0]["diagnostics"]
