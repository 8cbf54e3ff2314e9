"""Fixtures for the integration tests: real servers started by the test setup itself.

Sections: the FHIR R4 server (below). Keep each kind of server in its own section.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fhir_server.launcher import (
    FhirServer,
    FhirServerError,
    StartFhirServer,
    ensure_installed,
    load_fixtures,
    start,
)

# --- FHIR R4 server -----------------------------------------------------------------------
# tests/fhir_server/server.mjs: Medplum's FHIR router over an in-memory repository, behind a
# node:http front that adds paging links, a required Bearer token, delays and failures.
# Every instance is empty at start; `base_url` ends in /fhir.


@pytest.fixture(scope="session")
def fhir_server_installed() -> None:
    """`npm ci` in tests/fhir_server when node_modules is missing or stale."""
    try:
        ensure_installed()
    except FhirServerError as exc:
        pytest.fail(f"cannot install the test FHIR server: {exc}", pytrace=False)


def _start(**options: Any) -> FhirServer:
    try:
        return start(**options)
    except FhirServerError as exc:
        pytest.fail(f"cannot start the test FHIR server: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def fhir_server(fhir_server_installed: None) -> Iterator[FhirServer]:
    """One open (no token, no delay) server shared by the whole session.

    Shared state: tests that write to it use resource ids of their own.
    """
    server = _start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fhir_base_url(fhir_server: FhirServer) -> str:
    """The shared server's FHIR base URL, e.g. http://127.0.0.1:41234/fhir."""
    return fhir_server.base_url


@pytest.fixture(scope="session")
def loaded_fhir_server(fhir_server: FhirServer) -> FhirServer:
    """The shared server with every fixtures/patients/*/bundle.json loaded, through the
    real `trial-cds load-fixtures` command."""
    try:
        load_fixtures(fhir_server)
    except FhirServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    return fhir_server


@pytest.fixture
def start_fhir_server(fhir_server_installed: None) -> Iterator[StartFhirServer]:
    """Factory for extra, empty instances with options, stopped when the test ends:

        start_fhir_server(token="t")           # 401 unless `Authorization: Bearer t`
        start_fhir_server(delay_ms=2000)       # every FHIR response delayed
        start_fhir_server(delay_ms=2000, delay_types=["Observation"])
        start_fhir_server(fail_types=["Observation"])   # 500 + OperationOutcome
        start_fhir_server(link_origin="http://127.0.0.1:9")  # paging links elsewhere

    To fill one with the fixture patients: `load_fixtures(server)` from
    tests.fhir_server.launcher (the token, if any, is passed for you).

    Each instance has `.base_url`, `.auth_headers`, `.requests()` (what it received:
    method, url, authorization kind, status) and `.clear_requests()`.
    """
    started: list[FhirServer] = []

    def factory(**options: Any) -> FhirServer:
        server = _start(**options)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
