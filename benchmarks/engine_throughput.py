"""Benchmark 3: engine throughput, patients per second per core, and how it scales.

Generates N varied patients from the fixtures as NDJSON (one Bundle per line), then times
the whole per-patient path a population screen runs: parse the line, build the record,
screen every trial. Runs in one process (one core). Scaling is judged by the ratio of
throughput at the largest N to throughput at the smallest (≈1.0 = linear).

    .venv/bin/python -m benchmarks.engine_throughput            # 1k and 10k
    .venv/bin/python -m benchmarks.engine_throughput --full     # also 100k
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks.synth import population
from cds_hooks.eligibility import Engine
from cds_hooks.screening import record_from_bundle
from fixtures.generate import AS_OF

TARGET = 5000.0


def write_ndjson(path: Path, n: int) -> None:
    with path.open("wb") as out:
        for bundle in population(n):
            out.write(orjson.dumps(bundle) + b"\n")


def screen_file(engine: Engine, path: Path) -> tuple[int, float, dict[str, int]]:
    statuses: dict[str, int] = {}
    count = 0
    started = time.perf_counter()
    with path.open("rb") as lines:
        for line in lines:
            record = record_from_bundle(orjson.loads(line), engine, AS_OF)
            for trial in engine.screen(record, AS_OF).trials:
                statuses[trial.status] = statuses.get(trial.status, 0) + 1
            count += 1
    return count, time.perf_counter() - started, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="include 100k patients")
    args = parser.parse_args()
    sizes = [1_000, 10_000] + ([100_000] if args.full else [])
    engine = Engine.default()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up: unit-conversion factors are computed once per unit pair, then cached.
        warm = Path(tmp) / "warm.ndjson"
        write_ndjson(warm, 200)
        screen_file(engine, warm)
        for n in sizes:
            path = Path(tmp) / f"patients-{n}.ndjson"
            write_ndjson(path, n)
            count, seconds, statuses = screen_file(engine, path)
            rows.append((n, seconds, count / seconds, statuses))
            path.unlink()
    print(f"{'patients':>9} {'seconds':>8} {'patients/s/core':>16}  statuses")
    for n, seconds, rate, statuses in rows:
        mix = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        print(f"{n:>9} {seconds:>8.2f} {rate:>16.0f}  {mix}")
    scaling = rows[-1][2] / rows[0][2]
    best = max(r[2] for r in rows)
    print(
        f"\nthroughput ratio {sizes[-1]:,} vs {sizes[0]:,} patients: {scaling:.2f} (1.00 = linear)"
    )
    print(f"patients/s/core vs target {TARGET:.0f}: {best / TARGET:.2f}×")


if __name__ == "__main__":
    main()
