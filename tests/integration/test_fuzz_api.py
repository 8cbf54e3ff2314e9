"""Fuzz the live service through its OpenAPI document: no input may yield a 5xx, and no
request the document allows is refused.

Bounded (a fixed number of generated cases per operation) so CI stays fast; every
response must be one the document declares, with a body of the declared shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.support.cds_schema import assert_response_valid
from tests.support.service import Service, start_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # Used once it listens (start_service); each generated case waits for its answer, with
    # Hypothesis' per-example deadline off so a slow machine cannot fail a case.
    svc = start_service(tmp_path_factory.mktemp("fuzz"))
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def api_schema(live_service: Service) -> Any:
    return schemathesis.openapi.from_url(f"{live_service.base_url}/openapi.json")


def test_no_input_yields_a_server_error(api_schema: Any) -> None:
    # schemathesis' own pytest plugin does not support this pytest; its strategies are
    # driven by Hypothesis directly instead, per operation.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # Discovery, health, readiness; a hook and a feedback path per service.
    assert len(operations) == 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case: Any) -> None:
            response = case.call(timeout=30)
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code < 500, (case.path, response.text[:300])
            # And against the CDS Hooks 2.0 schema (or OperationOutcome for errors).
            if response.content and case.path.startswith("/cds-services"):
                assert_response_valid(response.status_code, response.json(), case.path)

        fuzz()


# What a valid request may get besides 200: 412 when the data it points to cannot be
# obtained (no Patient prefetched, a FHIR server we may not call): a fact about the
# data, not a refusal of the request. (401/403 do not occur: the service runs in dev mode.)
ACCEPTED = {200, 412}


def _select_draft_orders(case: Any) -> Any:
    """order-select: `selections` must name draftOrders entries, the one rule of the
    contract JSON Schema cannot state (it is in the operation's description)."""
    entries = case.body["context"]["draftOrders"]["entry"]
    for i, entry in enumerate(entries):
        entry["resource"]["id"] = f"order-{i}"
    case.body["context"]["selections"] = [
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries
    ]
    return case


def test_requests_the_contract_allows_are_accepted(api_schema: Any) -> None:
    for result in api_schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
        if operation.path.endswith("order-select"):
            strategy = strategy.map(_select_draft_orders)

        @given(case=strategy)
        @settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def positive(case: Any) -> None:
            response = case.call(timeout=30)
            assert response.status_code in ACCEPTED, (
                case.path,
                response.status_code,
                response.text[:300],
                case.body,
            )

        positive()


def test_openapi_describes_each_service(live_service: Service) -> None:
    import httpx

    document = httpx.get(f"{live_service.base_url}/openapi.json", timeout=10).json()
    assert "/cds-services/{service_id}" not in document["paths"]
    hook = document["paths"]["/cds-services/trial-screening-patient-view"]["post"]
    body = hook["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/patientViewRequest"}
    request = document["components"]["schemas"]["hookRequest"]
    assert set(request["required"]) >= {"hook", "hookInstance", "context"}
    assert {"200", "400", "401", "404", "408", "412", "413"} <= set(hook["responses"])
    feedback = document["paths"]["/cds-services/trial-screening-patient-view/feedback"]
    assert "503" in feedback["post"]["responses"]
    assert set(document["paths"]) >= {"/healthz", "/readyz"}
