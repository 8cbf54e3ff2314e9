"""Fuzz the live service through its OpenAPI document: no input may yield a 5xx.

Bounded (a fixed number of generated cases per operation) so CI stays fast; every
response must be one the document declares, with a body of the declared shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.support.cds_schema import assert_response_valid
from tests.support.service import Service, start_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
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
    assert len(operations) == 3
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def fuzz(case: Any) -> None:
            response = case.call(timeout=30)
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code < 500, (case.path, response.text[:300])
            # And against the CDS Hooks 2.0 schema (or OperationOutcome for errors).
            if response.content:
                assert_response_valid(response.status_code, response.json(), case.path)

        fuzz()


def test_openapi_describes_the_hook_body(live_service: Service) -> None:
    import httpx

    document = httpx.get(f"{live_service.base_url}/openapi.json", timeout=10).json()
    hook = document["paths"]["/cds-services/{service_id}"]["post"]
    body = hook["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["required"]) == {"hook", "hookInstance", "context"}
    assert {"200", "400", "401", "404", "412", "413"} <= set(hook["responses"])
