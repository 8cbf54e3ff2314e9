"""Reduce stage: one partition's patients → worklist rows, attrition tallies, full results.

A partition holds a bounded share of the export (the number of partitions grows with its
size), so grouping its lines by patient in memory is safe where grouping the whole export
would not be. Each patient is screened exactly as `trial-cds screen` and the hook do it:
`cds_hooks.screening.record_from` over the patient's resources, then `screening.screen`.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from cds_hooks import screening as use_case
from cds_hooks.eligibility.deadlines import screen_by
from cds_hooks.eligibility.engine import Engine
from cds_hooks.eligibility.results import ScreeningResult
from cds_hooks.prescreen.partition import SHARED_DIR, partition_dir
from cds_hooks.trials.model import TrialDefinition
from fhir_mappings.terminology import load_terminology

log = logging.getLogger(__name__)

STATUS_ORDER = ("likely_eligible", "possibly_eligible", "not_eligible")
WORKLIST_COLUMNS = (
    "patient_id",
    "trial",
    "registry",
    "status",
    "unknown",
    "to_check",
    "screen_by",
    "excluded_by",
)
WorklistRow = tuple[str, str, str, str, int, str, date | None, str]
WORKLIST_DIR = "worklist"  # in the work directory, beside the partitions


@dataclass(frozen=True)
class ScreenJob:
    """Everything a partition task needs; pickled once per task by Dask."""

    trials: tuple[TrialDefinition, ...]
    trial_ids: tuple[str, ...]
    as_of: date
    work: Path
    results: Path
    # One per run: a worker reused by a later run on the same OUT_DIR must not reuse the
    # earlier run's shared resources.
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class CriterionTally:
    met: int = 0
    not_met: int = 0
    unknown: int = 0
    excluded: int = 0  # decided against the patient (inclusion not met / exclusion met)
    excluded_alone: int = 0  # …and no other criterion was: dropping it would gain them

    def merge(self, other: CriterionTally) -> None:
        self.met += other.met
        self.not_met += other.not_met
        self.unknown += other.unknown
        self.excluded += other.excluded
        self.excluded_alone += other.excluded_alone


@dataclass
class TrialTally:
    statuses: Counter[str] = field(default_factory=Counter)
    criteria: dict[str, CriterionTally] = field(default_factory=dict)
    # The first criterion (in definition order) that excludes each patient: the funnel.
    first_excluded_by: Counter[str] = field(default_factory=Counter)

    def merge(self, other: TrialTally) -> None:
        self.statuses.update(other.statuses)
        self.first_excluded_by.update(other.first_excluded_by)
        for cid, tally in other.criteria.items():
            self.criteria.setdefault(cid, CriterionTally()).merge(tally)


@dataclass
class PartitionReport:
    partition: int
    patients: int = 0
    resources: int = 0
    # The partition's worklist rows, sorted, in a file of the work directory: the driver
    # merges the files as it writes, never holding the whole worklist.
    worklist: Path | None = None
    worklist_rows: int = 0
    tallies: dict[str, TrialTally] = field(default_factory=dict)
    unscreened: list[tuple[str, str]] = field(default_factory=list)  # (patient id, why)


_ENGINES: dict[str, Engine] = {}
_SHARED: dict[str, dict[str, dict[str, Any]]] = {}


def engine_for(trials: Sequence[TrialDefinition]) -> Engine:
    """One Engine per worker process and set of definitions (terminology loads once)."""
    key = hashlib.sha256(
        orjson.dumps([t.raw for t in trials], option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = Engine(list(trials), load_terminology())
    return engine


def _type_id(reference: str) -> str:
    parts = reference.rstrip("/").split("/")
    return "/".join(parts[-2:])


def shared_resources(work: Path, run_id: str) -> dict[str, dict[str, Any]]:
    """Medication resources by "Medication/<id>": referenced by orders, owned by nobody.
    A formulary, small next to the patients' data; read once per worker and run."""
    key = f"{work}\0{run_id}"
    cached = _SHARED.get(key)
    if cached is None:
        cached = {}
        for path in sorted((work / SHARED_DIR).glob("*.tsv")):
            with path.open("rb") as lines:
                for line in lines:
                    resource = orjson.loads(line)
                    if isinstance(resource.get("id"), str):
                        cached[f"{resource['resourceType']}/{resource['id']}"] = resource
        _SHARED.clear()  # one job at a time per worker
        _SHARED[key] = cached
    return cached


def _with_medications(
    resources: list[dict[str, Any]], shared: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    if not shared:
        return resources
    wanted: dict[str, dict[str, Any]] = {}
    for resource in resources:
        holder = resource.get("medicationReference")
        reference = holder.get("reference") if isinstance(holder, dict) else None
        if isinstance(reference, str) and (found := shared.get(_type_id(reference))):
            wanted[_type_id(reference)] = found
    return resources + list(wanted.values()) if wanted else resources


def _order_key(resource: Mapping[str, Any]) -> tuple[str, str]:
    return (str(resource.get("resourceType")), str(resource.get("id")))


def group_partition(work: Path, bucket: int) -> dict[str, list[bytes]]:
    """The partition's lines by patient id, in export-file order."""
    by_patient: dict[str, list[bytes]] = {}
    for path in sorted(partition_dir(work, bucket).glob("*.tsv")):
        with path.open("rb") as lines:
            for line in lines:
                patient, _, body = line.rstrip(b"\n").partition(b"\t")
                by_patient.setdefault(patient.decode(), []).append(body)
    return by_patient


def tally(trial: TrialDefinition, result: Any, into: TrialTally) -> None:
    into.statuses[result.status] += 1
    failing = [c.id for c in result.criteria if c.fails]
    for c in result.criteria:
        counts = into.criteria.setdefault(c.id, CriterionTally())
        setattr(counts, c.status, getattr(counts, c.status) + 1)
        if c.fails:
            counts.excluded += 1
            if len(failing) == 1:
                counts.excluded_alone += 1
    if failing:
        order = [c.id for c in trial.criteria]
        into.first_excluded_by[min(failing, key=order.index)] += 1


def worklist_rows(
    screening: ScreeningResult, trials: Mapping[str, TrialDefinition]
) -> list[WorklistRow]:
    patient_id = screening.patient.split("/", 1)[1]
    rows: list[WorklistRow] = []
    for result in screening.trials:
        trial = trials[result.trial]
        titles = {c.id: c.title for c in trial.criteria}
        unknown = [titles[c.id] for c in result.criteria if c.status == "unknown"]
        excluded = [titles[c.id] for c in result.criteria if c.fails]
        rows.append(
            (
                patient_id,
                result.trial,
                result.registry,
                result.status,
                len(unknown),
                " | ".join(unknown),
                screen_by(trial, result),
                " | ".join(excluded),
            )
        )
    return rows


_RANK = {s: i for i, s in enumerate(STATUS_ORDER)}


def worklist_key(row: WorklistRow) -> tuple[Any, ...]:
    """Likely first, then fewest unknowns, then the earliest screen-by date."""
    return (_RANK[row[3]], row[4], row[6] is None, row[6] or date.max, row[1], row[0])


def write_worklist_part(rows: Iterable[WorklistRow], path: Path) -> int:
    """One partition's rows, sorted, as NDJSON (the merge in `write_worklist` streams them)."""
    count = 0
    with path.open("wb") as out:
        for row in sorted(rows, key=worklist_key):
            out.write(orjson.dumps(row) + b"\n")  # a date as YYYY-MM-DD
            count += 1
    return count


def read_worklist_part(path: Path) -> Iterator[WorklistRow]:
    with path.open("rb") as lines:
        for line in lines:
            pid, trial, registry, status, unknown, to_check, by, excluded = orjson.loads(line)
            day = date.fromisoformat(by) if by is not None else None
            yield (pid, trial, registry, status, unknown, to_check, day, excluded)


def screen_partition(job: ScreenJob, bucket: int) -> PartitionReport:
    """Screen every patient of one partition; write their full results as NDJSON."""
    engine = engine_for(job.trials)
    shared = shared_resources(job.work, job.run_id)
    report = PartitionReport(bucket)
    report.tallies = {tid: TrialTally() for tid in job.trial_ids}
    job.results.mkdir(parents=True, exist_ok=True)
    rows: list[WorklistRow] = []
    with (job.results / f"part-{bucket:05d}.ndjson").open("wb") as out:
        by_patient = group_partition(job.work, bucket)
        for patient_id in sorted(by_patient):
            lines = by_patient.pop(patient_id)
            report.patients += 1
            report.resources += len(lines)
            # A fixed order whatever the export's file split or line order: reruns agree.
            resources = sorted((orjson.loads(line) for line in lines), key=_order_key)
            try:
                record = use_case.record_from(
                    _with_medications(resources, shared), engine=engine, as_of=job.as_of
                )
                screening = use_case.screen(engine, record, job.as_of, job.trial_ids)
            except use_case.UnusableRecord as exc:
                report.unscreened.append((patient_id, str(exc)))
                continue
            except Exception as exc:  # a bug must not lose the patient: report it
                log.exception("screening a patient failed")
                why = f"could not be screened ({type(exc).__name__})"
                report.unscreened.append((patient_id, why))
                continue
            out.write(orjson.dumps(screening.to_json()) + b"\n")
            rows.extend(worklist_rows(screening, engine.trials))
            for result in screening.trials:
                tally(engine.trials[result.trial], result, report.tallies[result.trial])
    folder = job.work / WORKLIST_DIR
    folder.mkdir(exist_ok=True)
    report.worklist = folder / f"part-{bucket:05d}.ndjson"
    report.worklist_rows = write_worklist_part(rows, report.worklist)
    return report
