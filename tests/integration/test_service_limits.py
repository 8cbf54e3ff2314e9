"""Limits over real HTTP: a huge FHIR page costs the budget, not its size; a stalled
request body times out; `trial-cds serve` exposes and applies its limits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fixtures import generate as g
from tests.support.big_fhir import big_fhir_server
from tests.support.service import ROOT, Service, free_port, start_service

pytestmark = pytest.mark.integration
PV = "trial-screening-patient-view"
MB = 1_000_000


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = start_service(tmp_path)
    yield svc
    svc.stop()


def hook_body(fhir_server: str) -> dict[str, Any]:
    body = g.hook_request(g.personas()["likely_eligible"][0], "patient-view")
    body["fhirServer"] = fhir_server
    del body["prefetch"]["reports"]  # fetched by the service: the huge page
    return body


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_huge_fhir_pages_make_the_key_unavailable_with_bounded_memory(service: Service) -> None:
    pid = service.process.pid
    service.hook(PV, hook_body("http://127.0.0.1:9/fhir"))  # warm up: imports, caches
    peak_before = memory_kb(pid, "VmHWM")
    with big_fhir_server(100 * MB) as (base, requests), ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: service.hook(PV, hook_body(base)), range(4)))
    assert requests  # the service did go and read them
    for response in responses:
        assert response.status_code == 200, response.text
        assert response.json()["cards"]  # screened on the rest, the reports unknown
    # Four 100 MB pages at once: each read stops at its 10 MB budget.
    grown_mb = (memory_kb(pid, "VmHWM") - peak_before) / 1000
    assert grown_mb < 150, f"peak RSS grew by {grown_mb:.0f} MB"
    lines = [orjson.loads(line) for line in service.logs().splitlines() if '"cards"' in line]
    reports = [line for line in lines if "DiagnosticReport" in line.get("unavailable", [])]
    assert len(reports) >= 4


def test_a_huge_required_page_is_412(service: Service) -> None:
    with big_fhir_server(30 * MB) as (base, _):
        body = hook_body(base)
        del body["prefetch"]["conditions"]
        response = service.hook(PV, body)
    assert response.status_code == 412
    assert "larger than" in response.json()["issue"][0]["diagnostics"]


def _stalled_body(base_url: str, sent: bytes = b'{"hook": "pat') -> bytes:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(
            f"POST /cds-services/{PV} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n".encode()
            + sent
        )
        answer = b""
        while chunk := sock.recv(65536):  # the server answers, then closes
            answer += chunk
    return answer


def test_a_stalled_request_body_times_out(tmp_path: Path) -> None:
    svc = start_service(tmp_path, CDS_BODY_TIMEOUT_SECONDS="1")
    try:
        answer = _stalled_body(svc.base_url)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"OperationOutcome" in answer
        # The service is not stuck behind it.
        assert svc.call("GET", "/healthz", validate=False).status_code == 200
    finally:
        svc.stop()
    assert '"status": 408' in svc.logs() or '"status":408' in svc.logs()


def _serve(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    environment = {
        **os.environ,
        "CDS_DEV_MODE": "1",
        "CDS_AS_OF": "2026-03-02",
        "DATABASE_URL": f"sqlite:///{tmp_path}/feedback.sqlite3",
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cds_hooks.cli", "serve", "--port", str(port), *args],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return process, base, log_path
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(log_path.read_text())


def test_serve_runs_workers_and_applies_its_limits(tmp_path: Path) -> None:
    process, base, log_path = _serve(
        tmp_path,
        "--workers",
        "2",
        "--body-timeout",
        "1",
        "--graceful-shutdown",
        "3",
        CDS_KEEP_ALIVE_SECONDS="2",
    )
    try:
        # Two worker processes under the supervisor.
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) >= 2
        assert _stalled_body(base).startswith(b"HTTP/1.1 408")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, log_path.read_text()[-2000:]


def _hold_body(base_url: str) -> socket.socket:
    """A hook request whose body is still on its way: it occupies a slot until closed."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    sock.sendall(
        f"POST /cds-services/{PV} HTTP/1.1\r\nHost: {host}\r\n"
        'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"hook"'.encode()
    )
    return sock


def test_beyond_the_concurrency_limit_the_answer_is_a_readable_503(tmp_path: Path) -> None:
    svc = start_service(tmp_path, CDS_LIMIT_CONCURRENCY="2", CDS_BODY_TIMEOUT_SECONDS="30")
    held = [_hold_body(svc.base_url) for _ in range(2)]
    try:
        # Both slots taken (the app counts a request from its first byte): wait until the
        # service has seen both, i.e. until a third request is refused.
        deadline = time.monotonic() + 20
        while True:
            busy = svc.call("GET", "/cds-services", validate=False)
            if busy.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "1"
        outcome = busy.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert "2 requests in progress" in outcome["issue"][0]["diagnostics"]
        # The probes still answer: the worker is busy, not dead.
        assert svc.call("GET", "/healthz", validate=False).status_code == 200
    finally:
        for sock in held:
            sock.close()
    # Slots come back when the held requests end.
    deadline = time.monotonic() + 20
    while svc.call("GET", "/cds-services", validate=False).status_code != 200:
        assert time.monotonic() < deadline, "slots never came back"
        time.sleep(0.05)
    svc.stop()
    assert '"error": "busy: concurrency limit"' in svc.logs()
