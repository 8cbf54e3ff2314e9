"""Prefetch templates and resolution: prefetch vs our own FHIR fetches.

Resolution logic runs against an in-memory FHIR client; FHIR faults (errors, garbage,
slowness) are faked with respx. The real FHIR server is in
tests/integration/test_prefetch_fhir.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import httpx
import pytest
import respx

from cds_hooks.eligibility import Engine
from cds_hooks.prefetch import (
    KEY_TYPES,
    MAX_QUERY_LENGTH,
    DataUnavailable,
    PrefetchTooLarge,
    ResolvedData,
    TemplateError,
    fill,
    key_type,
    prefetch_templates,
    resolve_data,
)
from cds_hooks.trials import TrialDefinition
from cds_hooks.trials.params import Read
from fhir_mappings.client import FhirClient, SearchParams, SearchResult
from fhir_mappings.terminology import Terminology

BASE = "https://fhir.example.org/r4"
TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&code=http%3A%2F%2Floinc.org%7C751-8",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
}
CONTEXT = {"patientId": "p1", "userId": "Practitioner/dr-x"}

PATIENT: dict[str, Any] = {"resourceType": "Patient", "id": "p1"}
CONDITION: dict[str, Any] = {
    "resourceType": "Condition",
    "id": "c1",
    "subject": {"reference": "Patient/p1"},
}
OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "subject": {"reference": "Patient/p1"},
}
MED: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "m1",
    "subject": {"reference": "Patient/p1"},
}
ERROR_OUTCOME: dict[str, Any] = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "exception", "diagnostics": "timed out"}],
}
WARNING_OUTCOME: dict[str, Any] = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "warning", "code": "informational"}],
}


def bundle(*resources: Mapping[str, Any], next_url: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": dict(r), "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        result["link"] = [{"relation": "next", "url": next_url}]
    return result


class MemoryFhir(FhirClient):
    """A FHIR client answering from dicts, recording what it was asked."""

    def __init__(
        self,
        data: Mapping[str, list[dict[str, Any]]],
        pages: Mapping[str, list[dict[str, Any]]] | None = None,
        truncate: frozenset[str] = frozenset(),
    ) -> None:
        # Every method that would use the HTTP client is overridden.
        super().__init__(cast(httpx.AsyncClient, None), BASE, "tok")
        self.data = data
        self.pages = pages or {}
        self.truncate = truncate
        self.calls: list[str] = []

    async def read(
        self, resource_type: str, id: str, *, deadline: float | None = None
    ) -> dict[str, Any] | None:
        self.calls.append(f"{resource_type}/{id}")
        return next((r for r in self.data.get(resource_type, []) if r["id"] == id), None)

    async def search(
        self,
        resource_type: str,
        params: SearchParams | None = None,
        *,
        max_pages: int | None = None,
        deadline: float | None = None,
    ) -> SearchResult:
        self.calls.append(f"{resource_type}?{params}")
        result = SearchResult(list(self.data.get(resource_type, [])))
        if resource_type in self.truncate:
            result.truncated, result.stop_reason = True, "more than 10 pages; the rest not fetched"
        return result

    async def follow(
        self,
        url: str,
        result: SearchResult | None = None,
        *,
        max_pages: int | None = None,
        deadline: float | None = None,
    ) -> SearchResult:
        self.calls.append(url)
        result = result if result is not None else SearchResult()
        result.resources += self.pages.get(url, [])
        return result


def resolve(
    prefetch: Mapping[str, Any] | None,
    fhir: FhirClient | None = None,
    *,
    templates: Mapping[str, str] = TEMPLATES,
    context: Mapping[str, Any] = CONTEXT,
    deadline: float = 5.0,
    max_entries: int = 100,
) -> ResolvedData:
    return asyncio.run(
        resolve_data(
            prefetch=prefetch,
            templates=templates,
            context=context,
            fhir=fhir,
            deadline_seconds=deadline,
            max_entries=max_entries,
        )
    )


def full_prefetch() -> dict[str, Any]:
    return {
        "patient": dict(PATIENT),
        "conditions": bundle(CONDITION),
        "observations": bundle(OBSERVATION),
        "medications": bundle(MED),
    }


def ids(data: ResolvedData) -> list[str]:
    return [f"{r['resourceType']}/{r['id']}" for r in data.resources]


SERVER: dict[str, list[dict[str, Any]]] = {
    "Patient": [PATIENT],
    "Condition": [CONDITION],
    "Observation": [OBSERVATION],
    "MedicationRequest": [MED],
}


# --- resolution -----------------------------------------------------------------------------


def test_full_prefetch_is_used_without_fetching() -> None:
    fhir = MemoryFhir({})
    data = resolve(full_prefetch(), fhir)
    assert ids(data) == ["Patient/p1", "Condition/c1", "Observation/o1", "MedicationRequest/m1"]
    assert fhir.calls == []
    assert data.fetched == []
    assert data.unavailable == {}


def test_missing_keys_are_fetched_and_only_those() -> None:
    fhir = MemoryFhir(SERVER)
    prefetch = full_prefetch()
    del prefetch["observations"], prefetch["patient"]
    data = resolve(prefetch, fhir)
    assert sorted(fhir.calls) == [
        "Observation?patient=p1&code=http%3A%2F%2Floinc.org%7C751-8",
        "Patient/p1",
    ]
    assert sorted(data.fetched) == ["observations", "patient"]
    # Template order, whoever supplied the data.
    assert ids(data) == ["Patient/p1", "Condition/c1", "Observation/o1", "MedicationRequest/m1"]


def test_no_prefetch_at_all_fetches_every_key() -> None:
    fhir = MemoryFhir(SERVER)
    data = resolve(None, fhir)
    assert len(fhir.calls) == len(TEMPLATES)
    assert data.fetched == list(TEMPLATES)


def test_null_means_nothing_found_and_is_not_queried_again() -> None:
    fhir = MemoryFhir(SERVER)
    prefetch = full_prefetch()
    prefetch["observations"] = None
    prefetch["conditions"] = None
    data = resolve(prefetch, fhir)
    assert fhir.calls == []
    assert ids(data) == ["Patient/p1", "MedicationRequest/m1"]
    assert data.unavailable == {}


def test_operation_outcome_in_place_of_data_is_fetched_ourselves() -> None:
    fhir = MemoryFhir(SERVER)
    prefetch = full_prefetch()
    prefetch["patient"] = ERROR_OUTCOME
    prefetch["observations"] = ERROR_OUTCOME
    data = resolve(prefetch, fhir)
    assert sorted(fhir.calls)[1] == "Patient/p1"
    assert sorted(data.fetched) == ["observations", "patient"]
    assert "OperationOutcome" not in {r["resourceType"] for r in data.resources}


def test_error_entry_inside_a_bundle_discards_it_and_fetches() -> None:
    stale = {"resourceType": "Observation", "id": "partial"}
    prefetched = bundle(stale)
    prefetched["entry"].append({"resource": ERROR_OUTCOME, "search": {"mode": "outcome"}})
    prefetch = full_prefetch()
    prefetch["observations"] = prefetched
    fhir = MemoryFhir(SERVER)
    data = resolve(prefetch, fhir)
    assert data.fetched == ["observations"]
    assert "Observation/partial" not in ids(data)
    assert "Observation/o1" in ids(data)


def test_epic_warning_outcome_entries_are_ignored() -> None:
    prefetched = bundle(CONDITION)
    prefetched["entry"].append({"resource": WARNING_OUTCOME, "search": {"mode": "outcome"}})
    informational = dict(WARNING_OUTCOME, issue=[{"severity": "information", "code": "x"}])
    prefetched["entry"].append({"resource": informational, "search": {"mode": "outcome"}})
    prefetch = full_prefetch()
    prefetch["conditions"] = prefetched
    fhir = MemoryFhir(SERVER)
    data = resolve(prefetch, fhir)
    assert fhir.calls == []
    assert "Condition/c1" in ids(data)
    assert "OperationOutcome" not in {r["resourceType"] for r in data.resources}


def test_wrong_resource_type_for_a_read_is_fetched_ourselves() -> None:
    prefetch = full_prefetch()
    prefetch["patient"] = {"resourceType": "Encounter", "id": "e1"}
    fhir = MemoryFhir(SERVER)
    data = resolve(prefetch, fhir)
    assert fhir.calls == ["Patient/p1"]
    assert "Encounter/e1" not in ids(data)


def test_a_paginated_prefetch_is_completed_through_the_fhir_server() -> None:
    more = {"resourceType": "Observation", "id": "o2"}
    prefetch = full_prefetch()
    prefetch["observations"] = bundle(OBSERVATION, next_url=f"{BASE}/Observation?page=2")
    fhir = MemoryFhir({}, pages={f"{BASE}/Observation?page=2": [more]})
    data = resolve(prefetch, fhir)
    assert fhir.calls == [f"{BASE}/Observation?page=2"]
    assert [i for i in ids(data) if "Obs" in i] == ["Observation/o1", "Observation/o2"]
    assert data.fetched == []  # completed, not fetched from scratch
    assert data.unavailable == {}


def test_a_paginated_prefetch_without_a_server_is_incomplete() -> None:
    prefetch = full_prefetch()
    prefetch["observations"] = bundle(OBSERVATION, next_url=f"{BASE}/Observation?page=2")
    data = resolve(prefetch, None)
    assert "Observation/o1" in ids(data)
    assert "more pages" in data.unavailable["Observation"]


def test_a_truncated_fetch_makes_the_type_unavailable() -> None:
    # Deciding on the first pages only could miss the latest lab: the engine must know.
    fhir = MemoryFhir(SERVER, truncate=frozenset({"Observation"}))
    prefetch = full_prefetch()
    del prefetch["observations"]
    data = resolve(prefetch, fhir)
    assert data.unavailable == {
        "Observation": "incomplete: more than 10 pages; the rest not fetched"
    }
    assert "Observation/o1" in ids(data)


def test_without_a_fhir_server_missing_required_data_is_data_unavailable() -> None:
    prefetch = full_prefetch()
    del prefetch["patient"], prefetch["conditions"]
    with pytest.raises(DataUnavailable) as caught:
        resolve(prefetch, None)
    message = str(caught.value)
    assert "Patient could not be obtained" in message
    assert "Condition could not be obtained" in message
    assert "no fhirServer" in message


def test_without_a_fhir_server_missing_labs_are_unavailable_only() -> None:
    prefetch = full_prefetch()
    del prefetch["observations"]
    data = resolve(prefetch, None)
    assert data.unavailable == {"Observation": "not prefetched, and no fhirServer to fetch it from"}
    assert data.fetched == []


def test_patient_not_on_the_server_is_data_unavailable() -> None:
    prefetch = full_prefetch()
    del prefetch["patient"]
    with pytest.raises(DataUnavailable, match="Patient could not be obtained"):
        resolve(prefetch, MemoryFhir({}))


def test_a_token_missing_from_the_context_fails_only_its_key() -> None:
    templates = dict(TEMPLATES, observations="Observation?encounter={{context.encounterId}}")
    prefetch = full_prefetch()
    del prefetch["observations"]
    fhir = MemoryFhir(SERVER)
    data = resolve(prefetch, fhir, templates=templates)
    assert fhir.calls == []
    assert "{{context.encounterId}}" in data.unavailable["Observation"]


def test_prefetch_entry_bound_is_checked_before_any_fetch() -> None:
    prefetch = full_prefetch()
    prefetch["observations"] = bundle(
        *({"resourceType": "Observation", "id": str(i)} for i in range(150))
    )
    del prefetch["patient"]
    fhir = MemoryFhir(SERVER)
    with pytest.raises(PrefetchTooLarge, match="more than 100"):
        resolve(prefetch, fhir, max_entries=100)
    assert fhir.calls == []


def test_entry_bound_also_covers_fetched_data() -> None:
    many = [{"resourceType": "Observation", "id": str(i)} for i in range(150)]
    fhir = MemoryFhir(dict(SERVER, Observation=many))
    with pytest.raises(PrefetchTooLarge):
        resolve(None, fhir, max_entries=100)


# --- FHIR faults (respx) ---------------------------------------------------------------------


def resolve_http(prefetch: Mapping[str, Any] | None, *, deadline: float = 5.0) -> ResolvedData:
    async def main() -> ResolvedData:
        async with httpx.AsyncClient() as http:
            return await resolve_data(
                prefetch=prefetch,
                templates=TEMPLATES,
                context=CONTEXT,
                fhir=FhirClient(http, BASE, "tok", retries=1),
                deadline_seconds=deadline,
                max_entries=100,
            )

    return asyncio.run(main())


def only(*keys: str) -> dict[str, Any]:
    """A full prefetch minus `keys`."""
    prefetch = full_prefetch()
    for key in keys:
        del prefetch[key]
    return prefetch


@respx.mock
def test_failed_lab_query_is_unavailable_not_fatal() -> None:
    route = respx.get(f"{BASE}/Observation").mock(return_value=httpx.Response(503))
    data = resolve_http(only("observations"))
    assert data.unavailable == {"Observation": "FHIR server error (503)"}
    assert route.call_count == 2  # retried once, then given up
    assert "Patient/p1" in ids(data)


@respx.mock
def test_garbage_lab_answer_is_unavailable() -> None:
    respx.get(f"{BASE}/Observation").mock(return_value=httpx.Response(200, content=b"\x00oops"))
    data = resolve_http(only("observations"))
    assert data.unavailable == {"Observation": "FHIR server answered with invalid JSON"}


@respx.mock
def test_token_refused_for_the_patient_is_data_unavailable() -> None:
    respx.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(401))
    with pytest.raises(DataUnavailable) as caught:
        resolve_http(only("patient"))
    assert str(caught.value) == "Patient could not be obtained: FHIR server refused the token (401)"


async def _slow(request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(30)
    return httpx.Response(200, json=bundle())


@respx.mock
def test_slow_lab_query_hits_the_deadline_alone() -> None:
    respx.get(f"{BASE}/Observation").mock(side_effect=_slow)
    respx.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(200, json=PATIENT))
    # Waits for the deadline, which the 30 s Observation answer cannot beat; the instant
    # Patient answer has 2 s to arrive, room for a loaded machine (at 0.3 s, a process
    # waiting its turn on a busy CPU could miss it).
    data = resolve_http(only("observations", "patient"), deadline=2.0)
    assert data.unavailable == {"Observation": "FHIR server too slow (hook deadline)"}
    assert ids(data)[0] == "Patient/p1"  # what arrived in time is kept


@respx.mock
def test_slow_conditions_are_data_unavailable() -> None:
    respx.get(f"{BASE}/Condition").mock(side_effect=_slow)
    # Waits for the 0.3 s deadline: the only answer takes 30 s, so it fires on any machine.
    with pytest.raises(DataUnavailable, match=r"Condition could not be obtained: .*too slow"):
        resolve_http(only("conditions"), deadline=0.3)


@respx.mock
def test_missing_keys_are_fetched_concurrently() -> None:
    # Every answer waits until all four requests are in flight: fetched one after the
    # other, the first would never be answered and the deadline would fail the call.
    arrived: list[str] = []
    all_in: dict[str, asyncio.Event] = {}  # made inside the test's event loop

    async def answer(request: httpx.Request) -> httpx.Response:
        event = all_in.setdefault("event", asyncio.Event())
        arrived.append(request.url.path)
        if len(arrived) == len(TEMPLATES):
            event.set()
        await event.wait()
        resource_type = request.url.path.split("/")[2]
        if resource_type == "Patient":
            return httpx.Response(200, json=PATIENT)
        return httpx.Response(200, json=bundle(*SERVER[resource_type]))

    respx.get(url__startswith=BASE).mock(side_effect=answer)
    # Waits on the event above; the deadline only fails the one-after-the-other case, so it
    # is far beyond the moment the four requests take when sent together.
    data = resolve_http(None, deadline=30.0)
    assert sorted(data.fetched) == sorted(TEMPLATES)
    assert len(arrived) == 4


# --- templates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CodeSet:
    codes: frozenset[tuple[str, str]]


class _Terminology:
    def __init__(self, sets: Mapping[str, set[tuple[str, str]]]) -> None:
        self.sets = sets

    def code_set(self, name: str) -> _CodeSet:
        return _CodeSet(frozenset(self.sets[name]))


class _Trial:
    """A trial whose rules read the named Observation code sets, plus any other reads."""

    def __init__(self, *names: str, other: tuple[Read, ...] = ()) -> None:
        self.names = set(names)
        self.other = other

    def reads(self) -> set[Read]:
        return {
            Read("Patient"),
            Read("Condition"),
            *(Read("Observation", n) for n in self.names),
            *self.other,
        }


def templates_for(trials: list[_Trial], sets: Mapping[str, set[tuple[str, str]]]) -> dict[str, str]:
    return prefetch_templates(
        cast(list[TrialDefinition], trials), cast(Terminology, _Terminology(sets))
    )


LOINC = "http://loinc.org"


def observation_codes(template: str) -> list[str]:
    match = re.search(r"&code=([^&]*)", template)
    return [unquote(c) for c in match.group(1).split(",")] if match else []


def all_observation_codes(templates: Mapping[str, str]) -> list[str]:
    return [
        code
        for key, template in templates.items()
        if key_type(key) == "Observation"
        for code in observation_codes(template)
    ]


def test_observation_codes_come_from_the_trials_sorted_and_deduplicated() -> None:
    sets = {"anc": {(LOINC, "751-8"), (LOINC, "26499-4")}, "hb": {(LOINC, "718-7")}}
    one = templates_for([_Trial("anc")], sets)
    both = templates_for([_Trial("anc"), _Trial("anc", "hb")], sets)
    assert observation_codes(one["observations"]) == [f"{LOINC}|26499-4", f"{LOINC}|751-8"]
    assert observation_codes(both["observations"]) == [
        f"{LOINC}|26499-4",
        f"{LOINC}|718-7",
        f"{LOINC}|751-8",
    ]


def test_long_code_lists_are_split_into_searches_an_ehr_accepts() -> None:
    codes = {(LOINC, f"{i:05d}-0") for i in range(400)}
    templates = templates_for([_Trial("many")], {"many": codes})
    keys = [k for k in templates if key_type(k) == "Observation"]
    assert keys[0] == "observations"
    assert keys[1:] == [f"observations_{i}" for i in range(2, 1 + len(keys))]
    assert len(keys) > 1
    assert all(len(templates[k]) <= MAX_QUERY_LENGTH for k in keys)
    # Every code asked for exactly once, across the parts.
    assert sorted(all_observation_codes(templates)) == sorted(f"{s}|{c}" for s, c in codes)


def test_nothing_is_fetched_that_no_rule_reads() -> None:
    sets = {"anc": {(LOINC, "751-8")}}
    labs_only = templates_for([_Trial("anc")], sets)
    assert set(labs_only) == {"patient", "conditions", "observations"}
    history = templates_for(
        [
            _Trial(
                "anc", other=(Read("MedicationRequest", "x", True), Read("AllergyIntolerance", "y"))
            )
        ],
        sets,
    )
    assert history["medications"] == "MedicationRequest?patient={{context.patientId}}"
    assert history["allergies"] == "AllergyIntolerance?patient={{context.patientId}}"
    assert "procedures" not in history
    assert "medication_statements" not in history
    active = templates_for([_Trial("anc", other=(Read("MedicationRequest", "x"),))], sets)
    assert active["medications"].endswith("&status=active")


def test_key_types() -> None:
    assert key_type("observations_3") == "Observation"
    assert key_type("allergies") == "AllergyIntolerance"
    assert key_type("unknown_2") == "unknown_2"


def test_loaded_trials_templates() -> None:
    engine = Engine.default()
    trials = list(engine.trials.values())
    templates = prefetch_templates(trials, engine.terminology)
    # "values" are coded answers matched inside resources already read: never fetched.
    read_types = {r.resource_type for t in trials for r in t.reads()} - {"values"}
    assert {key_type(k) for k in templates} == read_types
    assert {"Procedure", "MedicationStatement", "AllergyIntolerance"} <= read_types
    wanted = sorted(
        f"{system}|{code}"
        for name in set().union(*(t.observation_code_sets() for t in trials))
        for system, code in engine.terminology.code_set(name).codes
    )
    assert sorted(all_observation_codes(templates)) == sorted(set(wanted))
    assert all(len(t) <= MAX_QUERY_LENGTH for t in templates.values())
    assert templates["patient"] == "Patient/{{context.patientId}}"
    # Prior immunotherapy is history: stopped and completed orders count too.
    assert templates["medications"] == "MedicationRequest?patient={{context.patientId}}"
    for template in templates.values():
        # CDS Hooks 2.0 §Prefetch tokens: only root-level context fields.
        assert re.findall(r"\{\{([^}]*)\}\}", template) == ["context.patientId"]
        assert template.split("?")[0] in KEY_TYPES.values() or template.startswith("Patient/")


# --- tokens ----------------------------------------------------------------------------------


def test_fill_encodes_context_values() -> None:
    filled = fill("Condition?patient={{context.patientId}}", {"patientId": "a&b=c d/e"})
    assert filled == "Condition?patient=a%26b%3Dc%20d%2Fe"
    assert fill("Patient/{{context.patientId}}", {"patientId": "x/../y"}) == "Patient/x%2F..%2Fy"


def test_fill_user_tokens_from_user_id() -> None:
    context = {"patientId": "p", "userId": "Practitioner/dr 1", "encounterId": "e1"}
    assert fill("Encounter/{{context.encounterId}}", context) == "Encounter/e1"
    context["userId"] = "PractitionerRole/r1"
    assert fill("PractitionerRole?_id={{userPractitionerRoleId}}", context) == (
        "PractitionerRole?_id=r1"
    )
    assert fill("{{context.userId}}", context) == "PractitionerRole/r1"  # a read, kept as path
    assert fill("X?user={{context.userId}}", context) == "X?user=PractitionerRole%2Fr1"
    with pytest.raises(TemplateError, match="userPractitionerId"):
        fill("Practitioner/{{userPractitionerId}}", context)


def test_fill_refuses_missing_and_nested_tokens() -> None:
    with pytest.raises(TemplateError, match=r"context\.encounterId"):
        fill("Encounter/{{context.encounterId}}", {"patientId": "p"})
    with pytest.raises(TemplateError, match=r"context\.draftOrders"):
        fill("X?y={{context.draftOrders}}", {"draftOrders": {"resourceType": "Bundle"}})
