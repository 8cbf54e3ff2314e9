"""The request log and the last-resort error path, over real HTTP (uvicorn in a thread, so
a fault can be injected into the running app): one JSON line per request whatever the
status, and an unexpected exception answered as a 500 OperationOutcome with neither a
traceback nor the exception's text anywhere (it may quote patient data)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from cds_hooks.app import create_app
from cds_hooks.settings import Settings
from tests.support.cds_schema import assert_response_valid
from tests.support.service import START_TIMEOUT_SECONDS

pytestmark = pytest.mark.integration
PV = "trial-screening-patient-view"
REQUESTS = Path(__file__).resolve().parents[2] / "fixtures" / "cds_requests"
LIKELY = json.loads((REQUESTS / "patient-view-likely-eligible.json").read_text())
SECRET_TEXT = "Synthetic Likely Eligible 1968-05-14"


@contextmanager
def running(tmp_path: Path, **env: Any) -> Iterator[httpx.Client]:
    settings = Settings(
        CDS_AS_OF="2026-03-02",
        DATABASE_URL=f"sqlite:///{tmp_path}/feedback.sqlite3",
        CDS_CORS_ORIGINS="https://sandbox.cds-hooks.org",
        CDS_MAX_BODY_BYTES=100_000,
        **env,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    # Waits for uvicorn's own readiness flag (set once the app's start-up has run and the
    # socket, bound above so no other process can take the port, is being served); the
    # deadline only turns a server that never starts into a failure instead of a hang.
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        assert thread.is_alive(), "service thread ended before starting"
        assert time.monotonic() < deadline, "service did not start"
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        # Waits for the server thread to end: uvicorn finishes in-flight requests (and so
        # writes their log lines) before run() returns.
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "service did not stop"
        sock.close()


def checked(response: httpx.Response) -> httpx.Response:
    if response.request.method != "OPTIONS" and response.content:
        assert_response_valid(response.status_code, response.json(), response.request.url.path)
    return response


def access_lines(text: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("logger") == "trial_cds.access"]


def test_unexpected_error_is_a_bare_500_and_leaks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(SECRET_TEXT)

    monkeypatch.setattr("cds_hooks.screening.hook.card_for", broken)
    with running(tmp_path, CDS_DEV_MODE=True) as client:
        response = checked(client.post(f"/cds-services/{PV}", json=LIKELY))
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("application/fhir+json")
        assert response.json()["issue"][0]["diagnostics"] == "internal error"
        # The service keeps serving.
        assert checked(client.get("/cds-services")).status_code == 200
    out, err = capfd.readouterr()
    logs = out + err
    assert SECRET_TEXT not in logs
    assert SECRET_TEXT not in response.text
    assert "Traceback" not in logs
    (line,) = [x for x in access_lines(logs) if x["status"] == 500]
    assert line["error"] == "unhandled RuntimeError"
    assert line["hookInstance"] == LIKELY["hookInstance"]
    assert line["service"] == PV


def test_one_log_line_per_request_whatever_the_status(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bad = {**LIKELY, "context": {**LIKELY["context"], "patientId": {"name": SECRET_TEXT}}}
    with running(tmp_path, CDS_DEV_MODE=True) as client:
        capfd.readouterr()  # start-up lines
        statuses = [
            checked(client.get("/cds-services")).status_code,
            checked(client.post(f"/cds-services/{PV}", json=LIKELY)).status_code,
            checked(client.post(f"/cds-services/{PV}", json=bad)).status_code,
            checked(client.post(f"/cds-services/{PV}", content=b"{nope")).status_code,
            checked(client.post(f"/cds-services/{PV}", content=b"[" * 100_001)).status_code,
            checked(client.post("/cds-services/no-such-service", json=LIKELY)).status_code,
            checked(client.get(f"/cds-services/{PV}")).status_code,
            checked(client.get(f"/{SECRET_TEXT}")).status_code,
            checked(
                client.options(
                    f"/cds-services/{PV}",
                    headers={
                        "Origin": "https://sandbox.cds-hooks.org",
                        "Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "authorization,content-type",
                    },
                )
            ).status_code,
        ]
    # Read once the server has stopped: a request's line is written after its response has
    # gone out, so the last line may still be on its way while the client holds the answer.
    lines = access_lines(capfd.readouterr().err)
    assert statuses == [200, 200, 400, 400, 413, 404, 405, 404, 200]
    assert [x["status"] for x in lines] == statuses
    assert all(isinstance(x["ms"], float) for x in lines)
    ok = lines[1]
    assert ok["hookInstance"] == LIKELY["hookInstance"]
    assert ok["cards"] == 1
    assert ok["resources"] > 10
    assert ok["path"] == "/cds-services/{service_id}"
    assert lines[2]["error"] == "invalid request at /context/patientId"
    assert lines[7]["path"] == "(no route)"
    assert SECRET_TEXT not in json.dumps(lines)


def test_auth_failure_reason_is_logged_not_returned(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with running(tmp_path, CDS_DEV_MODE=False) as client:
        capfd.readouterr()
        response = checked(
            client.post(
                f"/cds-services/{PV}", json=LIKELY, headers={"Authorization": "Bearer not.a.jwt"}
            )
        )
    lines = access_lines(capfd.readouterr().err)  # after the stop, as above
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["issue"][0]["diagnostics"] == "unauthorized"
    (line,) = lines
    assert line["status"] == 401
    assert line["error"].startswith("unauthorized: ")
    assert "not.a.jwt" not in json.dumps(line)
