"""The two keys of the feedback store: the patient pseudonym and the feedback dedupe key.

The patient is stored as HMAC-SHA256(CDS_PSEUDONYM_SECRET, fhirServer + patient id), never
as the raw id: a plain SHA-256 of a patient id could be reversed by hashing every plausible
id, a keyed hash cannot without the secret (which is not in the database). A retried
feedback POST maps to the same dedupe key, so storing it again is a no-op.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any


def patient_key(fhir_server: str | None, patient_id: str, secret: str) -> str:
    """A stable pseudonym for (FHIR server, patient): the database holds no patient id."""
    message = f"{fhir_server or ''}\x1f{patient_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def dedupe_key(service_id: str, item: Mapping[str, Any]) -> str:
    accepted = sorted(
        str(s.get("id")) for s in item.get("acceptedSuggestions") or [] if isinstance(s, dict)
    )
    reason = (item.get("overrideReason") or {}).get("reason") or {}
    parts = [
        service_id,
        str(item.get("card")),
        str(item.get("outcome")),
        str(item.get("outcomeTimestamp")),
        str(reason.get("code")),
        ",".join(accepted),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
