"""Reading a Bulk Data export: which files, their lines, and whose data each line is.

Servers name export files differently (`Observation.ndjson`, `1.Observation.ndjson.gz`,
`part-0003.ndjson`), so a resource's type is read from the line itself, never from the file
name. A line that cannot be attached to a patient is a `BadLine` with its file and line
number: it is reported, never dropped without trace.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhir_mappings.record import FACT_TYPES

# Bulk Data files: NDJSON, optionally gzipped (also the .jsonl spelling some tools write).
SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
# Types build_record reads into facts: one without a patient reference is data we would lose.
PATIENT_DATA_TYPES = FACT_TYPES
# Not in any patient's compartment, but referenced by patients' medication orders.
SHARED_TYPES = frozenset({"Medication"})
_BOM = b"\xef\xbb\xbf"
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class ExportError(Exception):
    """The export cannot be read at all (missing, empty, a file that cannot be opened)."""


@dataclass(frozen=True, slots=True)
class BadLine:
    file: str  # relative to the export directory
    line: int  # 1-based, in the decompressed text
    reason: str


@dataclass(frozen=True, slots=True)
class ExportFile:
    path: Path
    name: str  # relative to the export directory, for messages
    size: int  # bytes on disk

    @property
    def gzipped(self) -> bool:
        return self.path.name.endswith(".gz")


def find_export_files(export_dir: Path) -> tuple[list[ExportFile], list[str]]:
    """The export's NDJSON files (sorted) and the names of other files that were ignored.

    Raises ExportError when the directory is missing, holds no NDJSON file, or a file
    cannot be opened: then nothing could be screened."""
    if not export_dir.exists():
        raise ExportError(f"{export_dir}: no such directory")
    if not export_dir.is_dir():
        raise ExportError(f"{export_dir}: not a directory")
    files: list[ExportFile] = []
    ignored: list[str] = []
    try:
        candidates = sorted(p for p in export_dir.rglob("*") if p.is_file())
    except OSError as exc:
        raise ExportError(f"{export_dir}: cannot list ({exc.strerror or exc})") from exc
    for path in candidates:
        name = path.relative_to(export_dir).as_posix()
        if not path.name.endswith(SUFFIXES):
            ignored.append(name)
            continue
        try:
            with path.open("rb") as handle:
                handle.read(1)
            size = path.stat().st_size
        except OSError as exc:
            raise ExportError(f"{name}: cannot read ({exc.strerror or exc})") from exc
        files.append(ExportFile(path, name, size))
    if not files:
        raise ExportError(
            f"{export_dir}: no NDJSON files (*.ndjson, *.ndjson.gz) in this directory"
        )
    return files, ignored


def read_lines(file: ExportFile) -> Iterator[tuple[int, bytes | BadLine]]:
    """(line number, line) for every non-blank line; a broken gzip stream ends the file with
    a BadLine at the line where it broke. CRLF line ends are read like LF, and a UTF-8
    byte order mark opening the file (written by some Windows tools; JSON parsers may
    ignore it, RFC 8259 §8.1) is dropped rather than costing the first resource."""
    number = 0
    try:
        opener: Any = gzip.open if file.gzipped else open
        with opener(file.path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.strip()
                if number == 1 and line.startswith(_BOM):
                    line = line[len(_BOM) :].strip()
                if line:
                    yield number, line
    except (OSError, EOFError, zlib.error) as exc:
        # gzip.BadGzipFile is an OSError; a truncated member raises EOFError.
        yield number + 1, BadLine(file.name, number + 1, f"cannot read further: {exc}")


def patient_of(resource: Mapping[str, Any]) -> str | None:
    """The id of the patient a resource belongs to, as build_record would match it: a
    Patient by its own id, anything else by `subject`, else `patient`. None when there is
    no reference; "" when the reference does not name a Patient."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else ""
    holder = resource.get("subject") or resource.get("patient")
    if not isinstance(holder, Mapping):
        return None
    reference = holder.get("reference")
    if not isinstance(reference, str) or not reference:
        return None
    # Relative (Patient/123) or absolute (https://…/Patient/123[/_history/2]).
    parts = reference.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == "Patient":
        return parts[-1]
    return ""


def bucket_of(patient_id: str, buckets: int) -> int:
    """The partition a patient's lines go to. CRC-32, not hash(): Python's string hash is
    salted per process, and every worker must send a patient to the same partition."""
    return zlib.crc32(patient_id.encode()) % buckets
