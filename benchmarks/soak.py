"""Soak: hold load on the service while its feedback store fails and recovers.

One service (uvicorn, loopback, a temporary SQLite file) takes patient-view calls with
feedback on the returned cards mixed in (one feedback per `--feedback-every` calls). The
run has three equal phases: healthy, store failing, recovered. The fault is another
process holding the database's write lock (`--fault lock`) or a full disk, the service's
file-size limit lowered with prlimit (`--fault disk-full`, Linux). Bounded by time
(`--seconds`) and by request count (`--max-requests`), whichever comes first.

Reported per phase: hook calls and how many answered 200 with cards, feedback answered
200 / 503 / anything else, readiness; at the end the lost rows (feedback answered 200 but
not in the database: must be 0), unacknowledged rows found stored (must be 0), and the
service's RSS (start, peak, end; end/start as a ratio). Exit status 1 when a row was lost,
a hook call failed, or any answer was a 5xx other than a feedback 503.

    .venv/bin/python -m benchmarks.soak [--seconds 60] [--fault lock|disk-full]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks._servers import free_port
from benchmarks.synth import hook_body, realistic_patient
from fixtures.generate import AS_OF
from tests.support.faults import disk_full, write_lock_held

PATH = "/cds-services/trial-screening-patient-view"
PHASES = ("healthy", "store failing", "recovered")
JSON = {"Content-Type": "application/json"}


@dataclass
class Phase:
    hooks: Counter[str] = field(default_factory=Counter)
    feedback: Counter[int] = field(default_factory=Counter)
    ready: Counter[int] = field(default_factory=Counter)


@contextlib.contextmanager
def service(tmp: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "CDS_DEV_MODE": "1",
        "DATABASE_URL": f"sqlite:///{tmp}/soak.sqlite3",
        "CDS_LOG_LEVEL": "WARNING",
        "CDS_STORE_TIMEOUT_SECONDS": "0.5",
        "CDS_AS_OF": AS_OF.isoformat(),  # the fixtures' screening date
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "cds_hooks.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    with (tmp / "service.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "service.log").read_text()[-3000:])
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def soak(args: argparse.Namespace, base: str, pid: int, database: Path) -> int:
    body = orjson.dumps(hook_body(realistic_patient()))
    phases = {name: Phase() for name in PHASES}
    acknowledged: set[str] = set()
    phase_seconds = args.seconds / len(PHASES)
    sent = 0
    current = PHASES[0]
    rss = [rss_mb(pid)]
    stop = asyncio.Event()

    cards_to_answer: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)

    async def hook_worker(client: httpx.AsyncClient) -> None:
        nonlocal sent
        calls = 0
        while not stop.is_set() and sent < args.max_requests:
            sent += 1
            calls += 1
            response = await client.post(PATH, content=body, headers=JSON)
            cards = response.json().get("cards") if response.status_code == 200 else None
            # Counted in the phase the answer arrived in.
            phases[current].hooks["200 with cards" if cards else f"{response.status_code}"] += 1
            if cards and calls % args.feedback_every == 0 and not cards_to_answer.full():
                cards_to_answer.put_nowait(cards[0])

    async def feedback_worker(client: httpx.AsyncClient) -> None:
        # Separate from the hook workers: a slow or failing store must not slow the hook.
        while not stop.is_set():
            try:
                card = await asyncio.wait_for(cards_to_answer.get(), 0.5)
            except TimeoutError:
                continue
            item = {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-03-02T10:00:00Z",
                "overrideReason": {"reason": card["overrideReasons"][-1]},
            }
            answer = await client.post(
                PATH + "/feedback", content=orjson.dumps({"feedback": [item]}), headers=JSON
            )
            phases[current].feedback[answer.status_code] += 1
            if answer.status_code == 200:
                acknowledged.add(card["uuid"])

    async def watch(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            status = (await client.get("/readyz")).status_code
            phases[current].ready[status] += 1
            rss.append(rss_mb(pid))
            await asyncio.sleep(1.0)

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        tasks = [asyncio.create_task(hook_worker(client)) for _ in range(args.concurrency)]
        tasks += [asyncio.create_task(feedback_worker(client)) for _ in range(2)]
        tasks.append(asyncio.create_task(watch(client)))
        faults = {"lock": lambda: write_lock_held(database), "disk-full": lambda: disk_full(pid)}
        with contextlib.ExitStack() as fault:
            for name in PHASES:
                current = name
                if name == "store failing":
                    fault.enter_context(faults[args.fault]())
                if name == "recovered":
                    fault.close()
                await asyncio.sleep(phase_seconds)
                if sent >= args.max_requests:
                    break
        stop.set()
        await asyncio.gather(*tasks)
        await asyncio.sleep(1.0)  # the queued issued cards reach the database
        rss.append(rss_mb(pid))
        counters = (await client.get("/readyz")).json()["store"]

    with sqlite3.connect(database) as db:
        stored = {row[0] for row in db.execute("SELECT card_uuid FROM feedback")}
    lost = acknowledged - stored
    unacknowledged = stored - acknowledged

    print(
        f"soak: {args.seconds:.0f} s, concurrency {args.concurrency}, fault {args.fault!r}, "
        f"{sent} hook calls\n"
    )
    print(
        f"{'phase':<14} {'hook calls':>10} {'hook 200+cards':>14} {'hook other':>10} "
        f"{'fb 200':>7} {'fb 503':>7} {'fb other':>8} {'readyz':>14}"
    )
    failures = 0
    for name, phase in phases.items():
        ok = phase.hooks["200 with cards"]
        other_hooks = sum(phase.hooks.values()) - ok
        other_feedback = sum(n for code, n in phase.feedback.items() if code not in (200, 503))
        failures += other_hooks + other_feedback
        ready = ", ".join(f"{code}×{n}" for code, n in sorted(phase.ready.items()))
        print(
            f"{name:<14} {sum(phase.hooks.values()):>10} {ok:>14} {other_hooks:>10} "
            f"{phase.feedback[200]:>7} {phase.feedback[503]:>7} {other_feedback:>8} "
            f"{ready:>14}"
        )
    print(
        f"\nfeedback acknowledged {len(acknowledged)}, stored {len(stored)}: "
        f"lost rows {len(lost)}, unacknowledged rows stored {len(unacknowledged)}"
    )
    print(
        f"RSS MB: start {rss[0]:.0f}, peak {max(rss):.0f}, end {rss[-1]:.0f} "
        f"(end/start {rss[-1] / rss[0]:.2f})"
    )
    print("store counters: " + ", ".join(f"{k} {v}" for k, v in counters.items()))
    refused = phases["store failing"].feedback[503]
    if not refused:
        print("note: no feedback was refused while failing (fault too short?)")
    return 1 if lost or unacknowledged or failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="whole run (≤ 600)")
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--feedback-every", type=int, default=4)
    parser.add_argument("--fault", choices=("lock", "disk-full"), default="lock")
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 3.0), 600.0)
    with tempfile.TemporaryDirectory() as tmp, service(Path(tmp)) as (base, pid):
        code = asyncio.run(soak(args, base, pid, Path(tmp) / "soak.sqlite3"))
    sys.exit(code)


if __name__ == "__main__":
    main()
