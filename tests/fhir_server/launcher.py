"""Install and start the in-memory test FHIR server (server.mjs) from Python.

Used by the integration-test fixtures; usable from anything else that needs a real FHIR R4
server on loopback (benchmarks, a REPL):

    from tests.fhir_server.launcher import ensure_installed, load_fixtures, start
    ensure_installed()
    server = start(token="secret")
    load_fixtures(server)  # every fixtures/patients/*/bundle.json
    ...  # server.base_url is e.g. http://127.0.0.1:41234/fhir
    server.stop()
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

SERVER_DIR = Path(__file__).resolve().parent
REPO = SERVER_DIR.parents[1]
# Only bounds a server that never starts: start() waits for its LISTENING line, not a delay.
START_TIMEOUT_SECONDS = 300.0
NPM_TIMEOUT_SECONDS = 300.0


class FhirServerError(RuntimeError):
    """The test FHIR server could not be installed or started; the message says why."""


def _installed_versions(lock: Path, *, skip_root: bool) -> dict[str, str] | None:
    try:
        packages = json.loads(lock.read_text(encoding="utf-8"))["packages"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {
        path: str(meta.get("version"))
        for path, meta in packages.items()
        if not (skip_root and path == "")
    }


def needs_install(server_dir: Path = SERVER_DIR) -> bool:
    """True when node_modules is missing or does not match package-lock.json.

    npm writes node_modules/.package-lock.json on every install; comparing versions with it
    catches a lockfile bumped by a pull, which a bare "node_modules exists" check misses.
    """
    wanted = _installed_versions(server_dir / "package-lock.json", skip_root=True)
    have = _installed_versions(server_dir / "node_modules" / ".package-lock.json", skip_root=False)
    return wanted is None or have != wanted


def ensure_installed(server_dir: Path = SERVER_DIR) -> None:
    """Run `npm ci` when node_modules is missing or stale (a clean clone has none).

    A lock file serialises concurrent test sessions: two `npm ci` runs in one directory
    would delete each other's node_modules halfway.
    """
    if not needs_install(server_dir):
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise FhirServerError(
            "the test FHIR server needs Node.js (>= 20) and npm on PATH; install them "
            f"and re-run (it installs itself with `npm ci` in {server_dir})"
        )
    key = hashlib.sha256(str(server_dir).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"trial-cds-fhir-server-{key}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not needs_install(server_dir):  # another session installed it meanwhile
            return
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=server_dir,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise FhirServerError(
                f"`npm ci` in {server_dir} took more than {NPM_TIMEOUT_SECONDS:.0f} s"
            ) from exc
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise FhirServerError(
                f"`npm ci` in {server_dir} failed (exit {done.returncode}); is the npm "
                f"registry reachable?\n{tail}"
            )


def node_command() -> list[str]:
    """`node [--experimental-websocket]`: Medplum 5 needs a global WebSocket, which only
    Node >= 22 has without the flag."""
    node = shutil.which("node")
    if node is None:
        raise FhirServerError("the test FHIR server needs Node.js (>= 20) on PATH")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError as exc:
        raise FhirServerError(f"cannot read the Node.js version from {version!r}") from exc
    if major < 20:
        raise FhirServerError(f"the test FHIR server needs Node.js >= 20, found {version}")
    return [node, "--experimental-websocket"] if major < 22 else [node]


@dataclass
class FhirServer:
    """One running server.mjs process."""

    base_url: str  # FHIR base, e.g. http://127.0.0.1:41234/fhir
    token: str | None
    process: subprocess.Popen[bytes] = field(repr=False)
    stderr_path: Path = field(repr=False)

    @property
    def origin(self) -> str:
        return self.base_url.removesuffix("/fhir")

    @property
    def auth_headers(self) -> dict[str, str]:
        """What a client needs to send to this instance."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def requests(self) -> list[dict[str, Any]]:
        """Requests received so far: method, url (path + query), authorization ("none",
        "bearer" or "other"; never the header value), status."""
        response = httpx.get(f"{self.origin}/_test/requests", timeout=10)
        response.raise_for_status()
        log: list[dict[str, Any]] = response.json()
        return log

    def clear_requests(self) -> None:
        httpx.delete(f"{self.origin}/_test/requests", timeout=10).raise_for_status()

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self.stderr_path.unlink(missing_ok=True)


def _read_first_line(stream: IO[bytes], timeout: float) -> str | None:
    # A thread, because a pipe's readline() has no timeout of its own.
    lines: queue.Queue[bytes] = queue.Queue(maxsize=1)
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).decode("utf-8", errors="replace").strip()
    except queue.Empty:
        return None


# What the `start_fhir_server` test fixture hands out: start(**options) with cleanup.
StartFhirServer = Callable[..., FhirServer]


def start(
    *,
    token: str | None = None,
    delay_ms: int = 0,
    delay_types: Iterable[str] = (),
    fail_types: Iterable[str] = (),
    link_origin: str | None = None,
    port: int = 0,
    timeout: float = START_TIMEOUT_SECONDS,
    server_dir: Path = SERVER_DIR,
) -> FhirServer:
    """Start server.mjs and wait for its LISTENING line. The caller must stop() it.

    token: require `Authorization: Bearer <token>` on every FHIR request (401 otherwise).
    delay_ms: delay each FHIR response (only for `delay_types` resource types if given).
    fail_types: resource types whose requests answer 500 with an OperationOutcome.
    link_origin: origin written into paging links instead of the server's own.
    """
    args = [*node_command(), "server.mjs", "--port", str(port), "--exit-on-stdin-eof"]
    if token is not None:
        args += ["--require-token", token]
    if delay_ms:
        args += ["--delay-ms", str(delay_ms)]
    for t in delay_types:
        args += ["--delay-type", t]
    for t in fail_types:
        args += ["--fail-type", t]
    if link_origin is not None:
        args += ["--link-origin", link_origin]
    fd, name = tempfile.mkstemp(prefix="trial-cds-fhir-server-", suffix=".log")
    stderr_path = Path(name)
    with os.fdopen(fd, "wb") as stderr:
        # stdin stays open for the server's lifetime: --exit-on-stdin-eof ends the server
        # if this process dies without calling stop().
        process = subprocess.Popen(
            args, cwd=server_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
    server = FhirServer(base_url="", token=token, process=process, stderr_path=stderr_path)
    assert process.stdout is not None
    line = _read_first_line(process.stdout, timeout)
    if line is None or not line.startswith("LISTENING "):
        detail = stderr_path.read_text(encoding="utf-8", errors="replace").strip()[-2000:]
        server.stop()
        raise FhirServerError(
            f"the test FHIR server did not start within {timeout:.0f} s "
            f"({'no output' if line is None else repr(line)}); stderr:\n{detail}"
        )
    server.base_url = line.removeprefix("LISTENING ")
    return server


def load_fixtures(server: FhirServer, *paths: Path) -> str:
    """Load bundles (default: every fixtures/patients/*/bundle.json) into `server` with the
    real `trial-cds load-fixtures` command, in a child process as a user runs it (which
    also keeps its asyncio.run() away from any event loop the caller holds). Returns the
    command's output; FhirServerError if it fails."""
    argv = [sys.executable, "-m", "cds_hooks.cli", "load-fixtures"]
    # Per-request timeout far beyond any answer time: loading test data is not a test of the
    # loader's deadline (a loaded machine has taken over 30 s for all fixture bundles).
    argv += ["--timeout", "300", "--fhir-server", server.base_url, *map(str, paths)]
    env = dict(os.environ)
    if server.token:
        env["TRIAL_CDS_FHIR_TOKEN"] = server.token  # not on the command line
    # Waits for the command to exit; the timeout only bounds a hang.
    done = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise FhirServerError(
            f"trial-cds load-fixtures exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout
