"""Benchmark 1: patient-view latency with full prefetch, ours vs a bare endpoint.

Both servers run under uvicorn with the same settings (one worker, loopback). The body is
a realistic patient: ~200 Observations over two years with every prefetch key filled.
Requests are sent at concurrency 1 and 16; p50 / p99 are per-request wall times seen by
the client. Judged by p50(ours) / p50(bare) (target ≤ 2) and p99(ours) at concurrency 1
(target < 20 ms). `--chart 1000` sends a long chart instead: the same ~200 trial labs plus
800 results no criterion reads (target p50 ≤ 2.5× bare). `--patients N` cycles through N
different patients (own ids, values jittered), so that nothing cached per value (units,
reasons, code combinations) is reused from the previous call more than a real clinic would
reuse it; both servers get the same bodies in the same order.

    .venv/bin/python -m benchmarks.hook_latency [--requests 400] [--chart 1000] [--patients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

import httpx
import orjson

from benchmarks._servers import uvicorn_server
from benchmarks.synth import hook_body, realistic_patient
from fixtures.generate import AS_OF

PATH = "/cds-services/trial-screening-patient-view"


async def run(base: str, bodies: list[bytes], requests: int, concurrency: int) -> list[float]:
    timings: list[float] = []
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for i in range(20):  # warm-up
            body = bodies[i % len(bodies)]
            (await client.post(PATH, content=body, headers=headers)).raise_for_status()
        queue = iter(range(requests))

        async def worker() -> None:
            for i in queue:
                body = bodies[i % len(bodies)]
                start = time.perf_counter()
                response = await client.post(PATH, content=body, headers=headers)
                timings.append((time.perf_counter() - start) * 1000)
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return timings


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--chart",
        type=int,
        default=200,
        help="Observations in the chart (≥ 200; beyond 200 they are results no criterion reads)",
    )
    parser.add_argument(
        "--patients", type=int, default=1, help="distinct patients to cycle through (default 1)"
    )
    args = parser.parse_args()
    unrelated = max(args.chart - 200, 0)
    bodies = [
        orjson.dumps(
            hook_body(
                realistic_patient("bench" if i == 0 else f"bench{i}", unrelated=unrelated),
                unrelated_in_prefetch=unrelated > 0,
            )
        )
        for i in range(max(args.patients, 1))
    ]
    body = bodies[0]
    results: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "CDS_DEV_MODE": "1",
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "CDS_LOG_LEVEL": "WARNING",
            # The chart's dates are relative to the fixtures' screening date: screened on
            # today's date instead, every lab would be months old and the benchmark would
            # measure a stale chart (and a different one each month).
            "CDS_AS_OF": AS_OF.isoformat(),
        }
        with uvicorn_server("cds_hooks.app:create_app", env, factory=True) as ours:
            cards = orjson.loads(
                httpx.post(
                    ours + PATH, content=body, headers={"Content-Type": "application/json"}
                ).content
            )
            assert cards["cards"], "the benchmark patient should get a card"
            for c in (1, 16):
                results[("ours", c)] = asyncio.run(run(ours, bodies, args.requests, c))
        with uvicorn_server("benchmarks.bare_app:app", ready_path="/docs") as bare:
            for c in (1, 16):
                results[("bare", c)] = asyncio.run(run(bare, bodies, args.requests, c))
    print(
        f"body {len(body) / 1024:.0f} KB, {len(bodies)} patient(s), "
        f"{args.requests} requests per row\n"
    )
    print(f"{'server':<6} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8}")
    for (name, c), timings in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"{name:<6} {c:>4} {pct(timings, 50):>8.2f} {pct(timings, 99):>8.2f}")
    print()
    target = 2.0 if args.chart <= 200 else 2.5
    for c in (1, 16):
        ratio = pct(results[("ours", c)], 50) / pct(results[("bare", c)], 50)
        p99 = f"p99 ours = {pct(results[('ours', c)], 99):.1f} ms"
        print(
            f"concurrency {c:>2}: p50 ours/bare = {ratio:.2f} (target ≤ {target:.2f}); "
            + (f"{p99} (target < 20)" if c == 1 else p99)
        )


if __name__ == "__main__":
    main()
