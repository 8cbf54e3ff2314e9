"""The feedback store failing under a running service, over real HTTP and a real SQLite
file: feedback is never acknowledged for a row that was not kept, the hook keeps
answering with its cards, and readiness says what is wrong.

The database is made unwritable three ways a test can produce without root-only tools:
another process holding the write lock, a full disk (the service's file-size limit
lowered with prlimit), and the file deleted while the service runs."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fixtures import generate as g
from tests.support.faults import disk_full, write_lock_held
from tests.support.service import Service, start_service

pytestmark = pytest.mark.integration
PV = "trial-screening-patient-view"
FEEDBACK = f"/cds-services/{PV}/feedback"
PERSONA = g.personas()["likely_eligible"][0]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = start_service(tmp_path, CDS_STORE_TIMEOUT_SECONDS="0.5")
    yield svc
    svc.stop()


def database(service: Service) -> Path:
    return service.log_path.parent / "feedback.sqlite3"


def hook_body() -> dict[str, Any]:
    body = g.hook_request(PERSONA, "patient-view")
    body.pop("fhirServer")
    return body


def feedback(card: str) -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "outcomeTimestamp": "2026-03-02T10:00:00Z",
                "overrideReason": {
                    "reason": {
                        "system": "http://example.org/reasons",
                        "code": "not-a-candidate",
                    }
                },
            }
        ]
    }


def _post(service: Service, card: str) -> tuple[str, int, Any]:
    # Not schema-validated here: 503 bodies are checked below.
    response = service.call("POST", FEEDBACK, feedback(card), validate=False)
    return card, response.status_code, response.json()


@pytest.mark.parametrize("failure", ["write lock held", "disk full"])
def test_feedback_under_load_is_never_acknowledged_when_lost(
    service: Service, failure: str
) -> None:
    path = database(service)
    faults: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
        "write lock held": lambda: write_lock_held(path),
        "disk full": lambda: disk_full(service.process.pid),
    }
    results: list[tuple[str, int, Any]] = []
    hooks: list[httpx.Response] = []
    stop = threading.Event()

    def keep_hooking() -> None:
        while not stop.is_set():
            hooks.append(service.hook(PV, hook_body(), validate=False))

    with ThreadPoolExecutor(8) as pool:
        hooker = pool.submit(keep_hooking)
        results += pool.map(lambda i: _post(service, f"before-{i}"), range(24))
        with faults[failure]():
            during = list(pool.map(lambda i: _post(service, f"during-{i}"), range(24)))
            # The hook keeps answering while the store is down: waits for two hook answers
            # that arrive during the fault (not for a fixed time: one hook call can take
            # seconds on a loaded machine); the bound only stops a hook that never
            # answers, and then the assertion below fails.
            before = len(hooks)
            deadline = time.monotonic() + 120
            while len(hooks) - before < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            hooks_during = len(hooks) - before
        results += during
        results += pool.map(lambda i: _post(service, f"after-{i}"), range(24))
        stop.set()
        hooker.result()

    acknowledged = {card for card, status, _ in results if status == 200}
    refused = [(card, body) for card, status, body in results if status != 200]
    assert all(status in (200, 503) for _, status, _ in results), results
    assert any(status == 503 for _, status, _ in during)  # the fault was real
    for _, body in refused:
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "transient"
    assert {f"before-{i}" for i in range(24)} <= acknowledged
    assert {f"after-{i}" for i in range(24)} <= acknowledged  # it recovers by itself
    with sqlite3.connect(path) as db:
        stored = {row[0] for row in db.execute("SELECT card_uuid FROM feedback")}
    assert stored == acknowledged  # every 200 is there; nothing else is
    # The clinical hook never went down with the store.
    assert hooks_during >= 2
    assert hooks
    assert all(h.status_code == 200 for h in hooks), {h.status_code for h in hooks}
    assert all(h.json()["cards"] for h in hooks)
    logs = service.logs()
    assert PERSONA.pid not in logs


def test_deleted_database_is_not_ready_and_refuses_writes(service: Service) -> None:
    path = database(service)
    ready = service.call("GET", "/readyz", validate=False)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    card = service.hook(PV, hook_body()).json()["cards"][0]["uuid"]
    assert service.call("POST", FEEDBACK, feedback(card)).status_code == 200

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

    refused = service.call("POST", FEEDBACK, feedback("another-card"))
    assert refused.status_code == 503
    assert refused.headers["Retry-After"]
    not_ready = service.call("GET", "/readyz", validate=False)
    assert not_ready.status_code == 503
    body = not_ready.json()
    assert body["status"] == "not ready"
    assert body["checks"]["store"] == {
        "ok": False,
        "reason": "database not writable: database file is missing",
    }
    assert body["checks"]["trials"]["ok"]
    assert body["store"]["feedback_refused"] == 1
    # The hook still answers, unsuppressed, and its cards are queued, not lost silently.
    hook = service.hook(PV, hook_body())
    assert hook.status_code == 200
    assert hook.json()["cards"]
    assert service.call("GET", "/healthz", validate=False).json() == {"status": "ok"}
    assert not path.exists()  # not recreated empty behind the operator's back
    logs = service.logs()
    assert "feedback store unavailable" in logs
    assert "database file is missing" in logs
    assert "not ready: store" in logs
    assert PERSONA.pid not in logs


def test_readiness_reports_counters_not_data(service: Service) -> None:
    service.hook(PV, hook_body())
    body = service.call("GET", "/readyz", validate=False).json()
    assert set(body["checks"]) == {"store", "trials", "configuration"}
    assert all(check["ok"] for check in body["checks"].values())
    assert set(body["store"]) >= {"available", "feedback_refused", "cards_pending"}
    assert PERSONA.pid.encode() not in orjson.dumps(body)
