"""Prefetch: the templates we advertise, and getting the data a hook call needs.

Templates are generated from the loaded trial definitions and code sets, so adding a trial
widens the Observation query without anyone editing a URL. At call time every template key
is resolved: prefetched data is used as sent (`null` = the EHR looked and found nothing);
a missing key, an OperationOutcome in place of the data, or an error entry inside a Bundle
means we fetch that query ourselves. All fetches run concurrently under one deadline.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cds_hooks.trials import TrialDefinition
from fhir_mappings.client import FhirClient, FhirError, SearchResult, add_bundle
from fhir_mappings.terminology import Terminology

# Template key → resource type it yields.
KEY_TYPES: Mapping[str, str] = {
    "patient": "Patient",
    "conditions": "Condition",
    "observations": "Observation",
    "procedures": "Procedure",
    "medications": "MedicationRequest",
    "reports": "DiagnosticReport",
}
# Without these nothing can be screened: the service answers 412.
REQUIRED_KEYS = frozenset({"patient", "conditions"})
# FHIR servers commonly reject URLs beyond ~8 KB; above this we drop the code filter.
MAX_QUERY_LENGTH = 6000
_TOKEN = re.compile(r"\{\{\s*([A-Za-z.]+)\s*\}\}")


class DataUnavailable(Exception):
    """Required data could not be obtained (→ 412). The message says what was missing."""


class PrefetchTooLarge(Exception):
    """More prefetch entries than the configured bound (→ 413)."""


def build_templates(trials: Sequence[TrialDefinition], terminology: Terminology) -> dict[str, str]:
    codes: set[tuple[str, str]] = set()
    for trial in trials:
        for name in trial.observation_code_sets():
            codes |= terminology.code_set(name).codes
    observation_query = "Observation?patient={{context.patientId}}"
    code_filter = ",".join(f"{system}|{code}" for system, code in sorted(codes))
    if codes and len(observation_query) + len(code_filter) < MAX_QUERY_LENGTH:
        observation_query += "&code=" + quote(code_filter, safe=",")
    return {
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "observations": observation_query,
        "procedures": "Procedure?patient={{context.patientId}}",
        "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
        "reports": "DiagnosticReport?patient={{context.patientId}}",
    }


def fill(template: str, context: Mapping[str, Any]) -> str:
    """Replace {{context.x}} tokens with URL-encoded context values."""

    def value(match: re.Match[str]) -> str:
        path = match.group(1)
        name = path.removeprefix("context.")
        raw = context.get(name)
        if not isinstance(raw, str | int):
            raise DataUnavailable(f"prefetch token {{{{{path}}}}} has no value in the context")
        return quote(str(raw), safe="")

    return _TOKEN.sub(value, template)


@dataclass(slots=True)
class ResolvedData:
    resources: list[dict[str, Any]] = field(default_factory=list)
    # Resource type → why it could not be obtained (the engine makes dependants unknown).
    unavailable: dict[str, str] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)  # template keys we fetched ourselves


def _has_error(outcome: Mapping[str, Any]) -> bool:
    return any(
        isinstance(i, dict) and i.get("severity") in ("error", "fatal")
        for i in outcome.get("issue") or []
    )


def _usable_prefetch(value: Any, result: SearchResult) -> tuple[bool, str | None]:
    """Add prefetched data to `result`. Returns (usable, next page URL to follow)."""
    if value is None:
        return True, None
    if not isinstance(value, dict):
        return False, None
    if value.get("resourceType") == "OperationOutcome":
        return False, None
    if value.get("resourceType") == "Bundle":
        probe = SearchResult()
        add_bundle(value, probe)
        if any(_has_error(o) for o in probe.outcomes):
            return False, None
        result.resources.extend(probe.resources)
        link = next(
            (
                link.get("url")
                for link in value.get("link") or []
                if isinstance(link, dict) and link.get("relation") == "next"
            ),
            None,
        )
        return True, link if isinstance(link, str) else None
    result.resources.append(value)
    return True, None


async def _fetch(key: str, query: str, fhir: FhirClient) -> SearchResult:
    if key == "patient":
        resource = await fhir.read(query)
        if resource is None:
            raise FhirError("not_found", f"{query} not found on the FHIR server", 404)
        return SearchResult([resource])
    return await fhir.search(query)


async def resolve(
    *,
    prefetch: Mapping[str, Any] | None,
    templates: Mapping[str, str],
    context: Mapping[str, Any],
    fhir: FhirClient | None,
    deadline_seconds: float,
    max_entries: int,
) -> ResolvedData:
    prefetch = prefetch or {}
    data = ResolvedData()
    to_fetch: dict[str, str] = {}
    to_follow: dict[str, str] = {}
    for key, template in templates.items():
        partial = SearchResult()
        if key in prefetch:
            usable, next_url = _usable_prefetch(prefetch[key], partial)
            if usable:
                data.resources.extend(partial.resources)
                if next_url:
                    to_follow[key] = next_url
                continue
        to_fetch[key] = fill(template, context)
    if len(data.resources) > max_entries:
        raise PrefetchTooLarge(f"prefetch holds more than {max_entries} resources")

    jobs: list[tuple[str, Any]] = []
    missing: dict[str, str] = {}
    for key, query in to_fetch.items():
        if fhir is None:
            missing[key] = "not prefetched and no fhirServer to fetch it from"
        else:
            jobs.append((key, _fetch(key, query, fhir)))
    for key, url in to_follow.items():
        if fhir is not None:
            jobs.append((key, fhir.follow(url, SearchResult())))
    results: Iterable[SearchResult | BaseException] = []
    if jobs:
        try:
            async with asyncio.timeout(deadline_seconds):
                results = await asyncio.gather(*(job for _, job in jobs), return_exceptions=True)
        except TimeoutError:
            results = [FhirError("timeout", "FHIR server too slow (hook deadline)")] * len(jobs)
    for (key, _), outcome in zip(jobs, results, strict=True):
        if isinstance(outcome, FhirError):
            missing[key] = str(outcome)
        elif isinstance(outcome, BaseException):
            missing[key] = f"FHIR fetch failed ({type(outcome).__name__})"
        else:
            data.resources.extend(outcome.resources)
            if key in to_fetch:
                data.fetched.append(key)
    required = sorted(k for k in missing if k in REQUIRED_KEYS)
    if required:
        raise DataUnavailable(
            "; ".join(f"{KEY_TYPES[k]} could not be obtained: {missing[k]}" for k in required)
        )
    for key, why in missing.items():
        data.unavailable[KEY_TYPES[key]] = why
    if len(data.resources) > max_entries:
        raise PrefetchTooLarge(f"patient data holds more than {max_entries} resources")
    return data
