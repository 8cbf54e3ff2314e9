"""Map stage: one export file → its lines hash-partitioned by patient into spill files.

Each partition is a directory `<work>/p<NNNNN>/` holding one file per export file that
had lines for it: `<patient id>\\t<the original JSON line>` per line. Writes are buffered
and flushed in bounded batches, so a task's memory does not grow with the file; grouping a
patient's resources happens later, one partition at a time (`screening`).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from cds_hooks.prescreen.export import (
    FHIR_ID,
    PATIENT_DATA_TYPES,
    SHARED_TYPES,
    BadLine,
    ExportFile,
    bucket_of,
    patient_of,
    read_lines,
)

FLUSH_BYTES = 4 * 1024 * 1024
SHARED_DIR = "shared"
BAD_DIR = "bad"
SHOWN_BAD_LINES = 20


@dataclass
class FileReport:
    """What one export file held. Bad lines are all in `bad_file`; `bad_sample` is the first
    few, for the terminal."""

    file: str
    lines: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    unattached: Counter[str] = field(default_factory=Counter)  # types kept by no patient
    bad: int = 0
    bad_sample: list[BadLine] = field(default_factory=list)
    bad_file: str | None = None


def partition_name(bucket: int) -> str:
    return f"p{bucket:05d}"


def partition_dir(work: Path, bucket: int) -> Path:
    return work / partition_name(bucket)


class _Spill:
    """Buffered appends to the partition files of one export file."""

    def __init__(self, work: Path, file_index: int) -> None:
        self.work = work
        self.name = f"f{file_index:05d}.tsv"
        self.buffers: dict[str, list[bytes]] = {}
        self.buffered = 0

    def add(self, directory: str, line: bytes) -> None:
        self.buffers.setdefault(directory, []).append(line)
        self.buffered += len(line)
        if self.buffered >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        for directory, lines in self.buffers.items():
            target = self.work / directory
            target.mkdir(parents=True, exist_ok=True)
            with (target / self.name).open("ab") as out:
                out.writelines(lines)
        self.buffers.clear()
        self.buffered = 0


def _classify(line: bytes) -> tuple[str, str | None] | str:
    """(resource type, patient id or None for shared resources), or why the line is bad."""
    try:
        resource = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"not JSON ({exc})"
    if not isinstance(resource, dict):
        return f"not a JSON object (a {type(resource).__name__})"
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not kind:
        return "no resourceType"
    if kind in SHARED_TYPES:
        return kind, None
    patient = patient_of(resource)
    if patient is None:
        if kind in PATIENT_DATA_TYPES:
            return f"{kind} without a subject/patient reference"
        return kind, ""  # Organization, Practitioner, …: no patient's data
    if patient == "":
        return f"{kind}: the subject/patient is not a Patient reference"
    if not FHIR_ID.fullmatch(patient):
        return f"{kind}: patient id {patient[:70]!r} is not a FHIR id"
    return kind, patient


def partition_file(file: ExportFile, file_index: int, work: Path, buckets: int) -> FileReport:
    """Read one export file and spill each line to its patient's partition."""
    report = FileReport(file.name)
    spill = _Spill(work, file_index)
    bad_path = work / BAD_DIR / f"f{file_index:05d}.csv"
    bad_handle = None
    writer = None
    names = [partition_name(b) for b in range(buckets)]  # not a Path per line: measurable
    try:
        for number, line in read_lines(file):
            if isinstance(line, BadLine):
                problem: BadLine | None = line
            else:
                report.lines += 1
                outcome = _classify(line)
                if isinstance(outcome, str):
                    problem = BadLine(file.name, number, outcome)
                else:
                    problem = None
                    kind, patient = outcome
                    if patient is None:
                        spill.add(SHARED_DIR, line + b"\n")
                        report.by_type[kind] += 1
                    elif patient == "":
                        report.unattached[kind] += 1
                    else:
                        spill.add(
                            names[bucket_of(patient, buckets)],
                            patient.encode() + b"\t" + line + b"\n",
                        )
                        report.by_type[kind] += 1
            if problem is not None:
                report.bad += 1
                if len(report.bad_sample) < SHOWN_BAD_LINES:
                    report.bad_sample.append(problem)
                if writer is None:
                    bad_path.parent.mkdir(parents=True, exist_ok=True)
                    bad_handle = bad_path.open("w", newline="", encoding="utf-8")
                    writer = csv.writer(bad_handle)
                    report.bad_file = str(bad_path)
                writer.writerow((problem.file, problem.line, problem.reason))
        spill.flush()
    finally:
        if bad_handle is not None:
            bad_handle.close()
    return report
