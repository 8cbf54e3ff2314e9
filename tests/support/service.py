"""Run the real service (uvicorn, real HTTP) in a child process for integration tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support.cds_schema import assert_response_valid

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port nothing listens on right now, for "server down" URLs only: another process may
    bind it later, so never hand it to a server (servers bind port 0 themselves)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Only bounds a service that never starts (a loaded machine has taken over 30 s to start one).
START_TIMEOUT_SECONDS = 300.0
SERVICE_FHIR_DEADLINE_SECONDS = 120
# A client timeout only guards against a hung service: beyond the service's own deadlines.
CALL_TIMEOUT_SECONDS = 300
# "--port 0" logs the URL; "--fd N" (a socket bound here) logs the socket's address.
_LISTENING = re.compile(
    rb"Uvicorn running on (?:http://127\.0\.0\.1:|socket \('127\.0\.0\.1', )(\d+)"
)


def wait_until_listening(
    process: subprocess.Popen[bytes], log_path: Path, timeout: float = START_TIMEOUT_SECONDS
) -> int:
    """The port of a uvicorn child started with `--port 0`, once it serves.

    Waits for uvicorn's "Uvicorn running on http://127.0.0.1:PORT" line in the child's log:
    uvicorn writes it after the application's start-up has completed and the socket is
    listening, and it names the port the kernel chose, so no other process can have taken it
    in between (as with a port picked here and bound later). The timeout only turns a child
    that never starts into a failure instead of a hang; a child that exits fails at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = _LISTENING.search(log_path.read_bytes())
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            raise RuntimeError(f"service exited ({process.returncode}): {_tail(log_path)}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"service did not start in {timeout:.0f} s: {_tail(log_path)}")
        time.sleep(0.05)


def _tail(log_path: Path) -> str:
    return log_path.read_text(encoding="utf-8", errors="replace")[-2000:]


@dataclass
class Service:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        validate: bool = True,
    ) -> httpx.Response:
        """One request; its body is validated against the CDS Hooks schema."""
        content = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        response = httpx.request(
            method,
            self.base_url + path,
            content=content,
            headers=hdrs,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        if validate and method != "OPTIONS" and response.content:
            assert_response_valid(response.status_code, response.json(), path)
        return response

    def hook(self, service_id: str, body: Any, **kw: Any) -> httpx.Response:
        return self.call("POST", f"/cds-services/{service_id}", body, **kw)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = START_TIMEOUT_SECONDS) -> str:
        """The log once it contains `text`. A request's log line is written after its
        response has gone out, so a test that has the answer may be ahead of the line; this
        waits for the line itself. The timeout only bounds a line that never comes."""
        deadline = time.monotonic() + timeout
        while text not in (logs := self.logs()):
            assert self.process.poll() is None, f"service exited: {logs[-2000:]}"
            assert time.monotonic() < deadline, f"{text!r} not logged: {logs[-2000:]}"
            time.sleep(0.05)
        return logs

    def stop(self, hard: bool = False) -> None:
        """SIGTERM (uvicorn finishes the requests in flight and writes their log lines) or
        SIGKILL; returns once the process has exited, so the log is complete and the
        feedback store closed. The timeout only turns a hung shutdown into a failure."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            self.process.wait(timeout=30)


def start_service(tmp: Path, **env: str) -> Service:
    """The service (uvicorn, dev mode, demo screening date CDS_AS_OF=2026-03-02 so results do
    not depend on today) in a child process, on a port of its own, with its own feedback
    store in `tmp`; returned once it serves (see wait_until_listening)."""
    fd, name = tempfile.mkstemp(prefix="service-", suffix=".log", dir=tmp)
    log_path = Path(name)
    # The listening socket is bound here and handed to uvicorn (--fd): its port is known
    # before the service starts, so CDS_PUBLIC_URL (the report links in cards) can name it,
    # and no other process can take the port in between.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = int(listener.getsockname()[1])
    environment = {
        **os.environ,
        "CDS_DEV_MODE": "1",
        "CDS_AS_OF": "2026-03-02",
        "DATABASE_URL": f"sqlite:///{tmp}/feedback.sqlite3",
        "CDS_LOG_LEVEL": "INFO",
        # FHIR deadlines out of the way of the tests that are not about them: on a loaded
        # machine the test FHIR server has taken over 6 s for one search (2 cores, load 9),
        # and a test of screening must not turn into a test of the machine's speed. Tests of
        # the deadlines set short ones against a FHIR server that cannot answer in time
        # (delay_ms far beyond them), so they do not depend on the machine's speed either.
        "CDS_FHIR_TIMEOUT_SECONDS": str(SERVICE_FHIR_DEADLINE_SECONDS),
        "CDS_FHIR_TOTAL_SECONDS": str(SERVICE_FHIR_DEADLINE_SECONDS),
        # Links in cards (the screening report) point back at this very instance.
        "CDS_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **env,
    }
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "cds_hooks.app:create_app",
                "--factory",
                "--fd",
                str(listener.fileno()),
            ],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),),
        )
    listener.close()  # the child holds its own copy
    wait_until_listening(process, log_path)
    return Service(f"http://127.0.0.1:{port}", log_path, process)
