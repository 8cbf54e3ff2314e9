"""Prefetch: the templates we advertise, and getting the data a hook call needs.

Templates are derived from what the loaded trials' rules read (resource types and code
sets), so adding a trial widens the queries without anyone editing a URL, and a resource
type no rule reads is never fetched.

At call time every template key is resolved (CDS Hooks 2.0 §Prefetch Template):
- `null` → the EHR looked and found nothing; not queried again;
- a Bundle → its entries; warning/information OperationOutcome entries (Epic sends them
  with search.mode = outcome) are ignored; a `next` link is followed through fhirServer;
- a resource → used as is;
- an OperationOutcome in place of the data, an error/fatal OperationOutcome entry inside a
  Bundle, or the key absent → the EHR could not get it: we fetch it ourselves from
  fhirServer with its token. All such fetches run concurrently under one deadline.
Patient or Conditions unobtainable → `DataUnavailable` (the route answers 412). Anything
else unobtainable or incomplete is named in `ResolvedData.unavailable`, so the engine makes
the criteria that need it `unknown` instead of deciding on partial data.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from cds_hooks.trials import TrialDefinition
from fhir_mappings.bundle import next_link
from fhir_mappings.client import FhirClient, FhirError, SearchResult, add_bundle
from fhir_mappings.terminology import Terminology

# Medication record types: their prefetch key, and the status filter when no rule reads
# their history (prior immunotherapy needs stopped and completed orders too; active-only
# rules need what is running now). Statements and dispenses are never filtered: a
# statement's status is too loosely kept, and whether a dispense is still being taken is
# decided from its date and days' supply.
_MEDICATION_KEYS = (
    ("MedicationRequest", "medications", "&status=active"),
    ("MedicationStatement", "medication_statements", ""),
    ("MedicationAdministration", "medication_administrations", "&status=in-progress"),
    ("MedicationDispense", "medication_dispenses", ""),
)
# Template key → the resource type it yields (also the key of `unavailable`). Which keys a
# service advertises is derived from what its trials' rules read (`prefetch_templates`).
KEY_TYPES: Mapping[str, str] = {
    "patient": "Patient",
    "conditions": "Condition",
    "observations": "Observation",
    "procedures": "Procedure",
    **{key: resource_type for resource_type, key, _ in _MEDICATION_KEYS},
    "allergies": "AllergyIntolerance",
    "reports": "DiagnosticReport",
}
# Without these nothing can be screened: the service answers 412.
REQUIRED_KEYS = frozenset({"patient", "conditions"})
# Long Observation code lists are split over several searches ("observations",
# "observations_2", ...) instead of one ever-growing URL: FHIR servers, EHR gateways and
# proxies reject long request lines (8 KB is a common hard limit: Apache's LimitRequestLine
# 8190, nginx's 8 KB header buffers), and a rejected search would lose every lab at once.
# Each template stays under this length, leaving 2 KB of an 8 KB line for the base URL,
# the patient id, paging parameters and whatever a gateway adds. Parts are as few as fit:
# every search costs the EHR a scan of the patient's Observations, and a failed part
# makes all Observations unknown anyway.
MAX_QUERY_LENGTH = 6000
_TOKEN = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9.]*)\s*\}\}")
# CDS Hooks 2.0 §Prefetch tokens identifying the user: derived from context.userId.
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
_REFERENCE = re.compile(r"[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}")
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")


class DataUnavailable(Exception):
    """Required data could not be obtained (→ 412). The message says what was missing."""


class PrefetchTooLarge(Exception):
    """More resources than `max_entries` (→ 413)."""


class TemplateError(ValueError):
    """A template token has no value in this hook call's context."""


def key_type(key: str) -> str:
    """The resource type a template key yields ("observations_2" → "Observation")."""
    base, _, part = key.rpartition("_")
    if base in KEY_TYPES and part.isdecimal():
        return KEY_TYPES[base]
    return KEY_TYPES.get(key, key)


def _observation_queries(codes: set[tuple[str, str]]) -> list[str]:
    """One search per slice of the code list, each under MAX_QUERY_LENGTH."""
    prefix = "Observation?patient={{context.patientId}}&code="
    queries: list[str] = []
    current: list[str] = []
    for system, code in sorted(codes):
        # Encoded here so the template is a valid URL as advertised; "," separates
        # alternatives (FHIR token OR) and stays literal.
        token = quote(f"{system}|{code}", safe="")
        if current and len(prefix) + len(",".join([*current, token])) > MAX_QUERY_LENGTH:
            queries.append(prefix + ",".join(current))
            current = []
        current.append(token)
    if current:
        queries.append(prefix + ",".join(current))
    return queries


def prefetch_templates(
    trials: Sequence[TrialDefinition], terminology: Terminology
) -> dict[str, str]:
    """The discovery `prefetch` of every service, derived from what the trials' rules read:
    nothing is fetched that no rule reads, and everything a rule reads is fetched."""
    reads = set().union(*(t.reads() for t in trials)) if trials else set()
    types = {r.resource_type for r in reads}
    history = {r.resource_type for r in reads if r.all_statuses}
    codes: set[tuple[str, str]] = set()
    for read in reads:
        if read.resource_type == "Observation" and read.code_set is not None:
            codes |= terminology.code_set(read.code_set).codes
    templates = {
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
    }
    if "Observation" in types:
        if codes:
            for i, query in enumerate(_observation_queries(codes), start=1):
                templates["observations" if i == 1 else f"observations_{i}"] = query
        else:
            templates["observations"] = "Observation?patient={{context.patientId}}"
    if "Procedure" in types:
        templates["procedures"] = "Procedure?patient={{context.patientId}}"
    for resource_type, key, current in _MEDICATION_KEYS:
        if resource_type in types:
            status = "" if resource_type in history else current
            templates[key] = f"{resource_type}?patient={{{{context.patientId}}}}{status}"
    if "AllergyIntolerance" in types:
        templates["allergies"] = "AllergyIntolerance?patient={{context.patientId}}"
    if "DiagnosticReport" in types:
        # Unfiltered: pathology and imaging reports are coded too inconsistently across
        # EHRs for a category/code filter not to lose the ones the trials read.
        templates["reports"] = "DiagnosticReport?patient={{context.patientId}}"
    return templates


def token_values(context: Mapping[str, Any]) -> dict[str, str]:
    """Every prefetch token this context can fill: `context.<field>` for root-level
    primitive fields, and the user tokens derived from context.userId."""
    values = {
        f"context.{name}": str(value)
        for name, value in context.items()
        if isinstance(value, str | int) and not isinstance(value, bool)
    }
    user = context.get("userId")
    if isinstance(user, str) and _REFERENCE.fullmatch(user):
        user_type, user_id = user.split("/")
        for token, resource_type in _USER_TOKENS.items():
            if user_type == resource_type:
                values[token] = user_id
    return values


def fill(template: str, context: Mapping[str, Any]) -> str:
    """Replace the {{tokens}} of a template with URL-encoded values from the context.

    In the path a token may stand for a whole reference ("{{context.userId}}" →
    "Practitioner/123"), so a value shaped like one keeps its "/"; everything else is
    encoded completely (a patient id can never add a path segment or a query parameter).
    Raises TemplateError naming the token when the context has no value for it.
    """
    values = token_values(context)
    query_start = template.find("?")

    def value(match: re.Match[str]) -> str:
        token = match.group(1)
        raw = values.get(token)
        if raw is None:
            raise TemplateError(f"prefetch token {{{{{token}}}}} has no value in the context")
        in_path = query_start < 0 or match.start() < query_start
        keep_slash = in_path and _REFERENCE.fullmatch(raw) is not None
        return quote(raw, safe="/" if keep_slash else "")

    return _TOKEN.sub(value, template)


@dataclass(slots=True)
class ResolvedData:
    resources: list[dict[str, Any]] = field(default_factory=list)
    # Resource type → why it could not be obtained (in full); the engine makes the
    # criteria that read it unknown with this reason.
    unavailable: dict[str, str] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)  # template keys we fetched ourselves


def _has_error(outcome: Mapping[str, Any]) -> bool:
    issues = outcome.get("issue")
    return isinstance(issues, list) and any(
        isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues
    )


@dataclass(slots=True)
class _Prefetched:
    resources: list[dict[str, Any]]
    next_url: str | None = None


def _read_prefetch(key: str, template: str, value: Any) -> _Prefetched | None:
    """What the EHR sent for one key, or None when it says it could not get it."""
    if value is None:
        return _Prefetched([])
    if not isinstance(value, dict):
        return None
    resource_type = value.get("resourceType")
    if resource_type == "OperationOutcome":
        return None
    if resource_type == "Bundle":
        found = SearchResult()
        add_bundle(value, found)
        if any(_has_error(outcome) for outcome in found.outcomes):
            return None
        return _Prefetched(found.resources, next_link(value))
    read_type = _read_target(template)
    if read_type is not None and resource_type != read_type[0]:
        return None  # e.g. an Encounter under "patient": not what the template asked for
    return _Prefetched([value])


def _read_target(query: str) -> tuple[str, str] | None:
    """("Patient", "123") for an instance read "Patient/123"; None for a search."""
    path, _, _ = query.partition("?")
    parts = path.split("/")
    if "?" not in query and len(parts) == 2 and _RESOURCE_TYPE.fullmatch(parts[0]):
        return parts[0], unquote(parts[1])
    return None


async def _fetch(query: str, fhir: FhirClient, deadline: float) -> SearchResult:
    read = _read_target(query)
    if read is not None:
        resource_type, resource_id = read
        resource = await fhir.read(resource_type, resource_id, deadline=deadline)
        if resource is None:
            raise FhirError("not_found", 404, f"{resource_type} not found on the FHIR server")
        return SearchResult([resource])
    resource_type, _, params = query.partition("?")
    if not _RESOURCE_TYPE.fullmatch(resource_type):
        raise FhirError("client", None, "prefetch template is not a FHIR read or search")
    return await fhir.search(resource_type, params, deadline=deadline)


async def _within(job: Awaitable[SearchResult], deadline: float) -> SearchResult:
    # Each job has the same absolute deadline: a slow lab query fails alone, and the keys
    # that finished in time keep their data.
    try:
        async with asyncio.timeout_at(deadline):
            return await job
    except TimeoutError as exc:
        raise FhirError("timeout", None, "FHIR server too slow (hook deadline)") from exc


def _describe(key: str, error: BaseException) -> str:
    if isinstance(error, FhirError | TemplateError):
        return str(error)
    return f"fetching {key_type(key)} failed ({type(error).__name__})"


async def resolve_data(
    *,
    prefetch: Mapping[str, Any] | None,
    templates: Mapping[str, str],
    context: Mapping[str, Any],
    fhir: FhirClient | None,
    deadline_seconds: float,
    max_entries: int,
) -> ResolvedData:
    """Everything the templates ask for, from the prefetch or from fhirServer.

    Raises DataUnavailable when a REQUIRED_KEYS key cannot be obtained, PrefetchTooLarge
    when more than `max_entries` resources arrive (counted on the prefetch before any
    fetch, and again on the total).
    """
    prefetch = prefetch or {}
    by_key: dict[str, list[dict[str, Any]]] = {key: [] for key in templates}
    missing: dict[str, str] = {}
    incomplete: dict[str, str] = {}
    to_fetch: dict[str, str] = {}
    to_follow: dict[str, tuple[str, SearchResult]] = {}

    for key, template in templates.items():
        sent = _read_prefetch(key, template, prefetch[key]) if key in prefetch else None
        if sent is not None:
            by_key[key] = sent.resources
            if sent.next_url is not None:
                # The EHR paginated its prefetch: the rest comes from fhirServer.
                to_follow[key] = (sent.next_url, SearchResult())
            continue
        try:
            to_fetch[key] = fill(template, context)
        except TemplateError as exc:
            missing[key] = str(exc)
    if sum(len(resources) for resources in by_key.values()) > max_entries:
        raise PrefetchTooLarge(f"prefetch holds more than {max_entries} resources")

    if fhir is None:
        for key in to_fetch:
            missing[key] = "not prefetched, and no fhirServer to fetch it from"
        for key in to_follow:
            incomplete[key] = "prefetch has more pages, and no fhirServer to fetch them from"
    else:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_seconds
        keys = [*to_fetch, *to_follow]
        jobs = [_within(_fetch(query, fhir, deadline), deadline) for query in to_fetch.values()]
        jobs += [
            _within(fhir.follow(url, partial, deadline=deadline), deadline)
            for url, partial in to_follow.values()
        ]
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        for key, outcome in zip(keys, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome  # cancellation and the like are not ours to swallow
                if key in to_follow:
                    incomplete[key] = f"prefetch has more pages: {_describe(key, outcome)}"
                    by_key[key] += to_follow[key][1].resources
                else:
                    missing[key] = _describe(key, outcome)
                continue
            by_key[key] += outcome.resources
            if outcome.truncated:
                incomplete[key] = f"incomplete: {outcome.stop_reason}"
            elif any(_has_error(o) for o in outcome.outcomes):
                incomplete[key] = "incomplete: the FHIR server reported an error in the search"

    required = [key for key in templates if key in REQUIRED_KEYS and key in missing]
    if required:
        raise DataUnavailable(
            "; ".join(f"{key_type(k)} could not be obtained: {missing[k]}" for k in required)
        )
    data = ResolvedData(fetched=[key for key in to_fetch if key not in missing])
    for key in templates:
        data.resources += by_key[key]
        why = missing.get(key) or incomplete.get(key)
        if why is not None:
            data.unavailable[key_type(key)] = why
    if len(data.resources) > max_entries:
        raise PrefetchTooLarge(f"patient data holds more than {max_entries} resources")
    return data
