"""Whose data is it: does a resource's subject (or patient) reference name this Patient?

A resource counts for a patient only when its reference resolves to that Patient:
- relative: `Patient/<id>` (optionally `/_history/<n>`);
- absolute: `<base>/Patient/<id>` under the FHIR server the data came from (or, when that
  server is not known, any http(s) base: a Bundle handed to the CLI names no server);
- `urn:uuid:` / `urn:oid:`: only the Patient's own Bundle entry (its fullUrl), or the
  Synthea-style convention that the urn's uuid is the Patient's id.
Anything else is not this patient's: no subject, an identifier-only or display-only
subject, another Patient, a Group, another server, another Bundle entry. One newer normal
result without a subject must never make a patient look eligible. A subject that names
nobody (`UNATTRIBUTED`) is told apart from one naming someone else: the engine lets the
former keep open a criterion that silence would clear.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from fhir_mappings._read import as_dict

_SUBJECT_FIELDS = ("subject", "patient")
# How `why_not_own` begins when it cannot tell whose data a resource is (as opposed to
# knowing it is someone else's): such a resource, sent with this patient's data, may be
# this patient's, so the engine lets it block a clear by absence.
UNATTRIBUTED = (
    "has no subject",
    "subject is an identifier only",
    "subject is a display name only",
    "subject has no reference",
    "subject is a contained resource",
    "subject reference ",
)


def _strip_history(parts: list[str]) -> list[str]:
    if "_history" in parts:
        return parts[: parts.index("_history")]
    return parts


def _normal_base(url: str) -> str:
    return url.strip().rstrip("/")


def patient_full_urls(bundle: Any) -> list[str]:
    """The fullUrl of every Patient entry of a Bundle (what its urn:uuid references name)."""
    urls = []
    for entry in as_dict(bundle).get("entry") or []:
        entry = as_dict(entry)
        full_url = entry.get("fullUrl")
        if as_dict(entry.get("resource")).get("resourceType") == "Patient" and (
            type(full_url) is str and full_url
        ):
            urls.append(full_url)
    return urls


class SubjectMatcher:
    """Decides, for one Patient, whether a resource is attached to it."""

    def __init__(
        self, patient_id: str, *, fhir_base: str | None = None, patient_urls: Iterable[str] = ()
    ) -> None:
        self.patient_id = patient_id
        self.ref = f"Patient/{patient_id}"
        urls = {u.strip() for u in patient_urls if u and u.strip()}
        self._urns = frozenset(
            {f"urn:uuid:{patient_id}"} | {u for u in urls if u.startswith("urn:")}
        )
        bases = {_normal_base(fhir_base)} if fhir_base else set()
        for url in urls:
            # An absolute fullUrl <base>/Patient/<id> tells which server the Bundle is from.
            parts = _strip_history(url.rstrip("/").split("/"))
            if not url.startswith("urn:") and parts[-2:] == ["Patient", patient_id]:
                bases.add("/".join(parts[:-2]))
        self._bases = frozenset(bases)

    def why_not_own(self, resource: Mapping[str, Any]) -> str | None:
        """None when the resource is this Patient's, else the reason it is skipped."""
        subject = resource.get("subject")
        if type(subject) is dict and subject.get("reference") == self.ref:
            return None  # "Patient/<id>": what nearly every resource says
        present = [f for f in _SUBJECT_FIELDS if resource.get(f) is not None]
        if not present:
            return "has no subject; cannot tell whose data it is"
        raw = as_dict(resource.get(present[0]))
        reference = raw.get("reference")
        if type(reference) is not str or not reference.strip():
            if raw.get("identifier") is not None:
                return "subject is an identifier only, not a reference to this Patient"
            if raw.get("display") is not None:
                return "subject is a display name only, not a reference to this Patient"
            return "subject has no reference; cannot tell whose data it is"
        return self._why_not(reference.strip())

    def _why_not(self, reference: str) -> str | None:
        if reference == self.ref:
            return None  # "Patient/<id>": what nearly every resource says
        if reference.startswith("urn:"):
            if reference in self._urns:
                return None
            return f"refers to {_short(reference)}, which is not this Patient's Bundle entry"
        if reference.startswith("#"):
            return "subject is a contained resource, not this Patient"
        split = urlsplit(reference)
        absolute = split.scheme in ("http", "https") and bool(split.netloc)
        if split.scheme and not absolute:
            return f"subject reference {_short(reference)} is not a FHIR reference"
        parts = _strip_history(reference.rstrip("/").split("/"))
        if len(parts) < 2:
            return f"subject reference {_short(reference)} is not a FHIR reference"
        target = "/".join(parts[-2:])
        if target != self.ref:
            return f"belongs to {_short(target)}, not {self.ref}"
        if not absolute:
            return (
                None if len(parts) == 2 else f"subject reference {_short(reference)} is malformed"
            )
        base = "/".join(parts[:-2])
        if self._bases and base not in self._bases:
            return f"refers to {self.ref} on another FHIR server ({_short(base)})"
        return None


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
