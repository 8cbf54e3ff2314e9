"""Benchmark 4: the population pre-screen on Dask, against the engine alone.

Builds synthetic Bulk Data exports from the fixture personas (`synth.population`: new ids
and lab values jittered ±40 %; here also every date of a patient shifted by up to ±7 days),
written as servers write them: each resource type over four files, half of them gzipped,
a patient's resources spread over all of them. Then, for each size:

- the pipeline: `run_prescreen` on a local Dask cluster (one worker process per core,
  started before the clock starts), wall time of the job, patients/s and patients/s/core,
  and the peak resident memory of every process (this one, the nanny and the workers);
- the engine alone, one process, one core: read a patient's Bundle, `record_from_bundle`
  (as `trial-cds screen` does), `Engine.screen` (the per-patient work of the pipeline
  without Dask, files or outputs).

Printed: scaling (throughput at the largest size ÷ at the smallest; linear = 1.00, target
within 10 %), the engine's patients/s/core (target ≥ 5,000) and the pipeline's
patients/s/core as a fraction of the engine's (target: within 2×, i.e. ≥ 0.50).

    .venv/bin/python -m benchmarks.prescreen            # 2k and 10k patients
    .venv/bin/python -m benchmarks.prescreen --full     # 10k and 100k patients
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import psutil

from benchmarks.synth import population
from cds_hooks.eligibility import Engine
from cds_hooks.prescreen.pipeline import PrescreenOptions, default_workers, run_prescreen
from cds_hooks.screening import record_from_bundle
from fixtures.generate import AS_OF

FILES_PER_TYPE = 4
ENGINE_TARGET = 5000.0
DATE = re.compile(rb'"(\d{4}-\d{2}-\d{2})')


def jittered(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`population(n)` with each patient's dates shifted together by -7…+7 days."""
    rng = random.Random(seed)
    for bundle in population(n, seed=seed):
        shift = timedelta(days=rng.randint(-7, 7))

        def moved(match: re.Match[bytes], shift: timedelta = shift) -> bytes:
            day = date.fromisoformat(match.group(1).decode()) + shift
            return b'"' + day.isoformat().encode()

        yield orjson.loads(DATE.sub(moved, orjson.dumps(bundle)))


def write_export(folder: Path, bundles_path: Path, n: int) -> None:
    """The export for the pipeline, and the same patients one Bundle per line for the
    engine-alone run."""
    folder.mkdir(parents=True)
    handles: dict[tuple[str, int], BinaryIO] = {}
    turn: dict[str, int] = {}
    with bundles_path.open("wb") as bundles:
        for bundle in jittered(n):
            bundles.write(orjson.dumps(bundle) + b"\n")
            for entry in bundle["entry"]:
                resource = entry["resource"]
                kind = resource["resourceType"]
                k = turn[kind] = (turn.get(kind, -1) + 1) % FILES_PER_TYPE
                handle = handles.get((kind, k))
                if handle is None:
                    if k % 2:
                        path = folder / f"{k}.{kind}.ndjson.gz"
                        handle = gzip.open(path, "wb", compresslevel=1)  # noqa: SIM115
                    else:
                        handle = (folder / f"{kind}-{k}.ndjson").open("wb")
                    handles[(kind, k)] = handle
                handle.write(orjson.dumps(resource) + b"\n")
    for handle in handles.values():
        handle.close()


def _family() -> list[psutil.Process]:
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def cpu_seconds() -> float:
    """User + system CPU time of this process and its descendants (the Dask workers).
    On a machine shared with other work, patients per CPU-second is what a dedicated
    core would do; wall-clock rates there depend on the neighbours."""
    total = 0.0
    for process in _family():
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class PeakMemory:
    """Peak of the summed RSS of this process and all its descendants, sampled."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for process in _family():
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue  # ended between listing and reading
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def engine_alone(engine: Engine, bundles_path: Path) -> tuple[int, float, float]:
    """(patients, wall seconds, CPU seconds) of screening the Bundles one by one."""
    count = 0
    started, cpu = time.perf_counter(), time.process_time()
    with bundles_path.open("rb") as lines:
        for line in lines:
            engine.screen(record_from_bundle(orjson.loads(line), engine, AS_OF), AS_OF)
            count += 1
    return count, time.perf_counter() - started, time.process_time() - cpu


@dataclass(frozen=True)
class Row:
    patients: int
    export_bytes: int
    partitions: int
    wall: float
    cpu: float  # all processes
    peak_rss: int
    stages: dict[str, float]
    alone_per_wall_s: float
    alone_per_cpu_s: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="10k and 100k patients")
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.full else [2_000, 10_000]
    workers = args.workers or default_workers()
    from distributed import LocalCluster

    engine = Engine.default()
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        # Warm-up: workers import the engine and build the UCUM registry once.
        warm = Path(tmp) / "warm"
        write_export(warm / "export", Path(tmp) / "warm.ndjson", 200)
        run_prescreen(
            PrescreenOptions(
                export_dir=warm / "export",
                out_dir=warm / "out",
                as_of=AS_OF,
                scheduler=cluster.scheduler_address,
                progress=False,
            )
        )
        engine_alone(engine, Path(tmp) / "warm.ndjson")
        for n in sizes:
            folder = Path(tmp) / str(n)
            bundles = Path(tmp) / f"{n}.ndjson"
            write_export(folder / "export", bundles, n)
            size = sum(p.stat().st_size for p in (folder / "export").iterdir())
            with PeakMemory() as memory:
                cpu = cpu_seconds()
                started = time.perf_counter()
                outcome = run_prescreen(
                    PrescreenOptions(
                        export_dir=folder / "export",
                        out_dir=folder / "out",
                        as_of=AS_OF,
                        scheduler=cluster.scheduler_address,
                        progress=False,
                    )
                )
                wall = time.perf_counter() - started
                cpu = cpu_seconds() - cpu
            assert outcome.patients == n, outcome
            assert outcome.clean, outcome
            count, alone_wall, alone_cpu = engine_alone(engine, bundles)
            rows.append(
                Row(
                    n,
                    size,
                    outcome.partitions,
                    wall,
                    cpu,
                    memory.peak,
                    outcome.seconds,
                    count / alone_wall,
                    count / alone_cpu,
                )
            )
            shutil.rmtree(folder)
            bundles.unlink()

    print(f"{workers} worker processes (1 thread each); export files: {FILES_PER_TYPE} per type")
    print(f"load average during the run: {', '.join(f'{x:.1f}' for x in psutil.getloadavg())}")
    print(
        f"{'patients':>9} {'MB':>5} {'parts':>5} {'wall s':>7} {'/s':>6} {'/s/core':>7} "
        f"{'/cpu-s':>6} {'peak MiB':>8} {'read/screen/write s':>20} {'engine /s':>9} "
        f"{'engine /cpu-s':>13}"
    )
    for r in rows:
        stages = "/".join(f"{r.stages[k]:.1f}" for k in ("reading", "screening", "writing"))
        print(
            f"{r.patients:>9} {r.export_bytes / 1e6:>5.0f} {r.partitions:>5} {r.wall:>7.1f} "
            f"{r.patients / r.wall:>6.0f} {r.patients / r.wall / workers:>7.0f} "
            f"{r.patients / r.cpu:>6.0f} {r.peak_rss / 2**20:>8.0f} {stages:>20} "
            f"{r.alone_per_wall_s:>9.0f} {r.alone_per_cpu_s:>13.0f}"
        )
    first, last = rows[0], rows[-1]
    wall_scaling = (last.patients / last.wall) / (first.patients / first.wall)
    cpu_scaling = (last.patients / last.cpu) / (first.patients / first.cpu)
    print(
        f"\nscaling {last.patients:,} vs {first.patients:,} patients (1.00 = linear; target "
        f"0.90–1.10): throughput {wall_scaling:.2f}, patients per CPU-second {cpu_scaling:.2f}"
    )
    print(
        f"engine alone: {last.alone_per_wall_s:.0f} patients/s/core wall, "
        f"{last.alone_per_cpu_s:.0f} per CPU-second (target ≥ {ENGINE_TARGET:.0f})"
    )
    per_core = last.patients / last.wall / workers
    print(
        "pipeline / engine alone (target ≥ 0.50, i.e. within 2×): "
        f"per core {per_core / last.alone_per_wall_s:.2f}, "
        f"per CPU-second {(last.patients / last.cpu) / last.alone_per_cpu_s:.2f}"
    )
    print(
        f"peak RSS {last.patients:,} vs {first.patients:,} patients: "
        f"{last.peak_rss / first.peak_rss:.2f}×"
    )


if __name__ == "__main__":
    main()
