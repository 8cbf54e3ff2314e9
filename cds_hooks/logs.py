"""Structured logs: one JSON line per request, and nothing that identifies a patient.

Only fields from an allowlist are written: ids of the hook call (hookInstance, service),
status, timing and counts. Tokens, names, birth dates, identifiers and resource ids never
reach a log record.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

ACCESS = logging.getLogger("trial_cds.access")
SAFE_FIELDS = frozenset(
    {
        "method",
        "path",
        "service",
        "hook",
        "hookInstance",
        "status",
        "ms",
        "cards",
        "resources",
        "fetched",
        "unavailable",
        "trials",
        "error",
        "feedback",
    }
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"level": record.levelname, "logger": record.name}
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            fields.update({k: v for k, v in extra.items() if k in SAFE_FIELDS})
        fields["msg"] = record.getMessage()
        return json.dumps(fields, default=str)


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("trial_cds")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    for name in ("cds_hooks", "fhir_mappings"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


def access(**fields: Any) -> None:
    ACCESS.info("request", extra={"fields": fields})
