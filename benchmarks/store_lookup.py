"""Store cost per hook call, flat in the cards already issued.

A real SQLite file holds N cards issued to one busy patient for one trial, half of them
declined; the hook's two store operations are timed: the suppression lookup (one primary
key range of the derived suppression table) and queueing the issued cards (the insert
itself is batched off the request path). Judged by p50 at 100,000 cards / p50 at 1,000
(target ≈ 1).

    .venv/bin/python -m benchmarks.store_lookup [--lookups 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from cds_hooks.cards import SUPPRESSING_REASONS
from cds_hooks.feedback import SqliteFeedbackStore

CODES = sorted(SUPPRESSING_REASONS)
BATCH = 5000


async def measure(path: Path, cards: int, lookups: int) -> tuple[float, float]:
    store = SqliteFeedbackStore(str(path))
    await store.open()
    try:
        for start in range(0, cards, BATCH):
            rows = [
                (f"card-{i}", "busy-patient", "trial-x", "likely_eligible")
                for i in range(start, min(start + BATCH, cards))
            ]
            await store.write_cards(rows)
            declines = [
                {
                    "card": f"card-{i}",
                    "outcome": "overridden",
                    "outcomeTimestamp": f"2026-03-02T10:00:00.{i:06d}Z",
                    "overrideReason": {"reason": {"code": "patient-declined"}},
                }
                for i in range(start, min(start + BATCH, cards), 2)
            ]
            await store.record_feedback("svc", declines)
        for _ in range(200):  # warm-up: reader threads, connections, page cache
            await store.suppressed_status("busy-patient", "trial-x", CODES, 90)
        lookup_ms = []
        queue_ms = []
        misses = 0
        for n in range(lookups):
            started = time.perf_counter()
            status = await store.suppressed_status("busy-patient", "trial-x", CODES, 90)
            lookup_ms.append((time.perf_counter() - started) * 1000)
            misses += status != "likely_eligible"  # a lookup past its timeout: shown
            started = time.perf_counter()
            await store.record_cards([(f"new-{n}", "busy-patient", "trial-x", "likely_eligible")])
            queue_ms.append((time.perf_counter() - started) * 1000)
        if misses:
            print(f"{cards} cards: {misses} lookups past their timeout (answered unsuppressed)")
        return statistics.median(lookup_ms), statistics.median(queue_ms)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cards in (1_000, 100_000):
            path = Path(tmp) / f"{cards}.sqlite3"
            results[cards] = asyncio.run(measure(path, cards, args.lookups))
    print(f"{'cards stored':>12} {'lookup p50 ms':>14} {'queue p50 ms':>13}")
    for cards, (lookup, queue) in results.items():
        print(f"{cards:>12} {lookup:>14.3f} {queue:>13.4f}")
    ratio = results[100_000][0] / results[1_000][0]
    print(f"\nlookup p50 at 100,000 / at 1,000 cards = {ratio:.2f} (target ≈ 1)")


if __name__ == "__main__":
    main()
