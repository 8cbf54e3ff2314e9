"""Run the real service (uvicorn, real HTTP) in a child process for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support.cds_schema import assert_response_valid

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
            method, self.base_url + path, content=content, headers=hdrs, timeout=30
        )
        if validate and method != "OPTIONS" and response.content:
            assert_response_valid(response.status_code, response.json(), path)
        return response

    def hook(self, service_id: str, body: Any, **kw: Any) -> httpx.Response:
        return self.call("POST", f"/cds-services/{service_id}", body, **kw)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, hard: bool = False) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            self.process.wait(timeout=10)


def start_service(tmp: Path, **env: str) -> Service:
    port = free_port()
    log_path = tmp / f"service-{port}.log"
    environment = {
        **os.environ,
        "CDS_DEV_MODE": "1",
        "CDS_AS_OF": "2026-03-02",
        "DATABASE_URL": f"sqlite:///{tmp}/feedback.sqlite3",
        "CDS_LOG_LEVEL": "INFO",
        # Links in cards (the screening report) point back at this very instance.
        "CDS_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "cds_hooks.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = Service(f"http://127.0.0.1:{port}", log_path, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited: {service.logs()[-2000:]}")
        try:
            httpx.get(service.base_url + "/cds-services", timeout=1)
            return service
        except httpx.HTTPError:
            time.sleep(0.1)
    service.stop(hard=True)
    raise RuntimeError(f"service did not start: {service.logs()[-2000:]}")
