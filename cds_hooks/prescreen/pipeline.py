"""The pre-screen job on a Dask cluster: partition the export, screen the partitions, write.

Default: a local cluster (`distributed.LocalCluster`, one single-threaded worker process per
core: screening is pure Python, so threads would share one GIL). With `scheduler`, the same
tasks run on an existing cluster; its workers must see the export and output directories
at the same paths (a shared file system), since the partitions are files, not messages.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cds_hooks.prescreen import outputs
from cds_hooks.prescreen.export import BadLine, ExportFile, find_export_files
from cds_hooks.prescreen.partition import FileReport, partition_file
from cds_hooks.prescreen.screening import (
    PartitionReport,
    ScreenJob,
    TrialTally,
    read_worklist_part,
    screen_partition,
)
from cds_hooks.trials import TrialDefinition, load_trials

WORK_DIR = "_partitions"
RESULTS_DIR = "results"
# Raw NDJSON per partition: a partition task holds this much text (×~5 once parsed) at
# once, whatever the size of the export.
PARTITION_BYTES = 8 * 1024 * 1024
GZIP_RATIO = 6  # typical NDJSON compression, to size partitions from .gz files
MAX_PARTITIONS = 4096


class PrescreenInputError(Exception):
    """Bad input or an unreachable cluster: nothing was screened (exit 2)."""


@dataclass(frozen=True)
class PrescreenOptions:
    export_dir: Path
    out_dir: Path
    as_of: date
    trial_ids: Sequence[str] | None = None
    trials_dir: Path | None = None
    scheduler: str | None = None
    workers: int | None = None
    min_cell: int | None = None
    partitions: int | None = None
    progress: bool = True


@dataclass
class PrescreenOutcome:
    files: int = 0
    ignored_files: list[str] = field(default_factory=list)
    lines: int = 0
    patients: int = 0
    unscreened: list[tuple[str, str]] = field(default_factory=list)
    bad_lines: int = 0
    bad_sample: list[BadLine] = field(default_factory=list)
    partitions: int = 0
    workers: int = 0
    statuses: dict[str, Counter[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage

    @property
    def clean(self) -> bool:
        """Every line read and every patient screened."""
        return self.bad_lines == 0 and not self.unscreened


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def partition_count(files: Sequence[ExportFile], workers: int) -> int:
    text_bytes = sum(f.size * (GZIP_RATIO if f.gzipped else 1) for f in files)
    wanted = max(2 * workers, math.ceil(text_bytes / PARTITION_BYTES))
    return min(wanted, MAX_PARTITIONS)


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler is None:
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers or default_workers(),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        try:
            with Client(cluster) as client:  # type: ignore[no-untyped-call]
                yield client
        finally:
            cluster.close()
        return
    try:
        # Connect timeout: Dask's distributed.comm.timeouts.connect (default 30 s).
        client = Client(scheduler)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        message = f"cannot reach the Dask scheduler at {scheduler} ({exc})"
        raise PrescreenInputError(message) from exc
    try:
        if workers:
            try:
                client.wait_for_workers(workers, timeout=120)
            except TimeoutError as exc:
                raise PrescreenInputError(
                    f"the Dask cluster at {scheduler} did not reach {workers} workers"
                ) from exc
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]


def _select_trials(options: PrescreenOptions) -> list[TrialDefinition]:
    from cds_hooks.trials import TrialDefinitionError

    try:
        trials = load_trials(options.trials_dir)
    except TrialDefinitionError as exc:
        raise PrescreenInputError(str(exc)) from exc
    if not options.trial_ids:
        return trials
    by_id = {t.id: t for t in trials}
    unknown = [t for t in options.trial_ids if t not in by_id]
    if unknown:
        raise PrescreenInputError(
            f"unknown trial {unknown[0]!r} (loaded: {', '.join(sorted(by_id))})"
        )
    return [by_id[t] for t in dict.fromkeys(options.trial_ids)]


def _run_tasks(client: Any, futures: list[Any], label: str, progress: Any | None) -> list[Any]:
    from distributed import as_completed

    task = progress.add_task(label, total=len(futures)) if progress is not None else None
    for _ in as_completed(futures):  # type: ignore[no-untyped-call]
        if progress is not None:
            progress.advance(task)
    return list(client.gather(futures))


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Any | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        yield progress


def run_prescreen(options: PrescreenOptions) -> PrescreenOutcome:
    """Screen the whole export; write every output into `options.out_dir`."""
    from cds_hooks.prescreen.export import ExportError

    if options.out_dir.resolve().is_relative_to(options.export_dir.resolve()):
        # Its results/*.ndjson would be read as part of the export on the next run.
        raise PrescreenInputError(f"--out {options.out_dir} must not be inside the export")
    try:
        files, ignored = find_export_files(options.export_dir)
    except ExportError as exc:
        raise PrescreenInputError(str(exc)) from exc
    trials = _select_trials(options)
    out_dir = options.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        work = out_dir / WORK_DIR
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        results = out_dir / RESULTS_DIR
        shutil.rmtree(results, ignore_errors=True)
    except OSError as exc:
        raise PrescreenInputError(f"{out_dir}: cannot write ({exc.strerror or exc})") from exc

    outcome = PrescreenOutcome(files=len(files), ignored_files=ignored)
    with (
        dask_client(options.scheduler, options.workers) as client,
        _progress(options.progress) as progress,
    ):
        outcome.workers = len(client.scheduler_info()["workers"])
        buckets = options.partitions or partition_count(files, max(outcome.workers, 1))
        outcome.partitions = buckets
        started = time.perf_counter()
        file_reports: list[FileReport] = _run_tasks(
            client,
            client.map(
                partition_file,
                files,
                range(len(files)),
                work=work.resolve(),
                buckets=buckets,
                pure=False,
            ),
            "reading the export",
            progress,
        )
        outcome.seconds["reading"] = time.perf_counter() - started
        started = time.perf_counter()
        job = ScreenJob(
            trials=tuple(trials),
            trial_ids=tuple(t.id for t in trials),
            as_of=options.as_of,
            work=work.resolve(),
            results=results.resolve(),
        )
        partition_reports: list[PartitionReport] = _run_tasks(
            client,
            client.map(screen_partition, [job] * buckets, range(buckets), pure=False),
            "screening patients",
            progress,
        )
        outcome.seconds["screening"] = time.perf_counter() - started

    started = time.perf_counter()
    _write_all(options, trials, file_reports, partition_reports, outcome)
    shutil.rmtree(work, ignore_errors=True)
    outcome.seconds["writing"] = time.perf_counter() - started
    return outcome


def _write_all(
    options: PrescreenOptions,
    trials: Sequence[TrialDefinition],
    file_reports: Sequence[FileReport],
    partition_reports: Sequence[PartitionReport],
    outcome: PrescreenOutcome,
) -> None:
    out_dir = options.out_dir
    by_type: Counter[str] = Counter()
    unattached: Counter[str] = Counter()
    with (out_dir / "bad_lines.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("file", "line", "reason"))
        for report in file_reports:
            outcome.lines += report.lines
            outcome.bad_lines += report.bad
            by_type.update(report.by_type)
            unattached.update(report.unattached)
            for bad in report.bad_sample:
                if len(outcome.bad_sample) < 20:
                    outcome.bad_sample.append(bad)
            if report.bad_file is not None:
                with Path(report.bad_file).open(newline="", encoding="utf-8") as part:
                    writer.writerows(csv.reader(part))

    tallies = {t.id: TrialTally() for t in trials}
    for partition in partition_reports:
        outcome.patients += partition.patients - len(partition.unscreened)
        outcome.unscreened.extend(partition.unscreened)
        for trial_id, tally in partition.tallies.items():
            tallies[trial_id].merge(tally)
    outcome.unscreened.sort()
    outcome.statuses = {t: tally.statuses for t, tally in tallies.items()}
    with (out_dir / "unscreened.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("patient_id", "reason"))
        writer.writerows(outcome.unscreened)

    outputs.write_worklist(
        [read_worklist_part(p.worklist) for p in partition_reports if p.worklist is not None],
        out_dir,
    )
    attrition = outputs.attrition_rows(trials, tallies)
    outputs.write_attrition(attrition, out_dir)
    charts = {}
    for trial in trials:
        steps = outputs.funnel(trial, tallies[trial.id], outcome.patients)
        charts[trial.id] = outputs.funnel_png(trial, steps, options.min_cell)
        (out_dir / outputs.funnel_file(trial)).write_bytes(charts[trial.id])
    html = outputs.render_summary(
        outputs.SummaryInput(
            as_of=options.as_of,
            trials=trials,
            tallies=tallies,
            attrition=attrition,
            charts=charts,
            patients=outcome.patients,
            unscreened=len(outcome.unscreened),
            files=outcome.files,
            lines=outcome.lines,
            bad_lines=outcome.bad_lines,
            by_type=dict(by_type),
            unattached=dict(unattached),
            min_cell=options.min_cell,
        )
    )
    (out_dir / "summary.html").write_text(html, encoding="utf-8")
