"""Results older than every window that reads them are counted, not built: the screening
must come out exactly as if the record held all of them, whatever their statuses, values
and dates, for the screening date the record was read for and any later one."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.synth import realistic_patient
from cds_hooks.eligibility import Engine
from fhir_mappings.facts import UCUM, PatientRecord
from fhir_mappings.record import build_record
from fixtures.generate import AS_OF

ENGINE = Engine.default()
STATUSES = [
    "final",
    "final",
    "final",
    "amended",
    "corrected",
    "preliminary",
    "cancelled",
    "entered-in-error",
    "registered",
    "unknown",
    None,
]


def _mess(resource: dict[str, Any], rng: random.Random, days: list[str]) -> None:
    """One Observation made the way real feeds send old results: other statuses, no value,
    impossible values, several results of one day (with and without a time), partial or
    other date elements."""
    roll = rng.random()
    status = rng.choice(STATUSES)
    if status is None:
        resource.pop("status", None)
    else:
        resource["status"] = status
    if roll < 0.1:
        resource.pop("valueQuantity", None)
    elif roll < 0.15:
        resource.pop("valueQuantity", None)
        resource["dataAbsentReason"] = {"text": "sample haemolysed"}
    elif roll < 0.2 and "valueQuantity" in resource:
        resource["valueQuantity"]["value"] = -1
    elif roll < 0.25:
        resource.pop("valueQuantity", None)
        resource["valueString"] = "see report"
    when = rng.random()
    if when < 0.2:
        resource["effectiveDateTime"] = rng.choice(days)  # another result's day, no time
    elif when < 0.3:
        resource["effectiveDateTime"] = f"{rng.choice(days)}T0{rng.randint(0, 9)}:15:00Z"
    elif when < 0.35:
        resource["effectiveDateTime"] = resource["effectiveDateTime"][:7]  # "2025-01"
    elif when < 0.4:
        start = resource.pop("effectiveDateTime")
        resource["effectivePeriod"] = {"start": start}
    elif when < 0.43:
        resource["issued"] = resource.pop("effectiveDateTime")


def _chart(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    resources: list[dict[str, Any]] = realistic_patient(f"p{seed}", unrelated=50).resources
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    # A few days that many results share: several results of one code on one day, with and
    # without a time of day, decide which of them a search names.
    days = rng.sample(sorted({r["effectiveDateTime"][:10] for r in observations}), 4)
    for resource in observations:
        if rng.random() < 0.6:
            _mess(resource, rng, days)
    if rng.random() < 0.5:  # two versions of one old result that disagree
        twin = json.loads(json.dumps(rng.choice(observations)))
        twin["status"] = "amended" if twin.get("status") != "amended" else "final"
        resources.append(twin)
    rng.shuffle(resources)
    return resources


def _screened(record: PatientRecord, as_of: date) -> tuple[bytes, bytes]:
    full = ENGINE.screen(record, as_of).to_json()
    short = ENGINE.screen(record, as_of, until_excluded=True).to_json()
    return json.dumps(full).encode(), json.dumps(short).encode()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), shift=st.integers(-30, 800), later=st.integers(0, 400))
def test_a_record_read_for_a_date_screens_like_the_whole_record(
    seed: int, shift: int, later: int
) -> None:
    resources = _chart(seed)
    as_of = AS_OF + timedelta(days=shift)
    whole = build_record(resources, observations_read=ENGINE.observations_read)
    lean = build_record(resources, observations_read=ENGINE.observations_read, as_of=as_of)
    assert lean.skipped == whole.skipped
    built = len(lean.observations)
    assert built + lean.older_observations == len(whole.observations)
    for day in (as_of, as_of + timedelta(days=later)):  # the date it was read for, or later
        assert _screened(lean, day) == _screened(whole, day)


def _platelets(rid: str, day: str, *codes: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": c} for c in codes]},
        "subject": {"reference": "Patient/tie"},
        "effectiveDateTime": day,
        "valueQuantity": {"value": 250, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
    }


def test_results_of_one_day_keep_their_order_when_only_one_is_built_late() -> None:
    """Two untimed platelet counts of one day, both too old: the first sent is the one
    named, as in the whole record, although the second (it also carries a code read at any
    age, so it is always built) was built before it."""
    resources = [
        {"resourceType": "Patient", "id": "tie", "birthDate": "1960-01-01", "gender": "male"},
        _platelets("first", "2025-06-01", "777-3"),
        _platelets("second", "2025-06-01", "777-3", "8480-6"),
    ]
    read = ENGINE.observations_read
    lean = build_record(resources, observations_read=read, as_of=AS_OF)
    whole = build_record(resources, observations_read=read)
    assert [f.ref for f in lean.observations] == [f.ref for f in whole.observations]
    assert [f.ref for f in whole.observations] == ["Observation/first", "Observation/second"]
    result = ENGINE.screen(lean, AS_OF, ["scrt-capeox-serplulimab-rectal"]).trials[0]
    assert "(Observation/first)" in result.criterion("platelets").reason


def test_a_long_history_is_mostly_not_built_and_its_latest_is_still_named() -> None:
    resources = realistic_patient("history").resources
    whole = build_record(resources, observations_read=ENGINE.observations_read)
    late = AS_OF + timedelta(days=120)  # every lab older than its 28-day window
    lean = build_record(resources, observations_read=ENGINE.observations_read, as_of=late)
    assert lean.read_for == late
    assert lean.older_observations > len(whole.observations) / 2
    assert len(lean.observations) + lean.older_observations == len(whole.observations)
    platelets = (
        ENGINE.screen(lean, late, ["scrt-capeox-serplulimab-rectal"])
        .trials[0]
        .criterion("platelets")
    )
    assert platelets.status == "unknown"
    assert "days old" in platelets.reason  # "latest <date> (Observation/…), N days old"


def test_a_record_read_for_a_date_is_not_screened_for_an_earlier_one() -> None:
    resources = realistic_patient("earlier").resources
    record = build_record(resources, observations_read=ENGINE.observations_read, as_of=AS_OF)
    with pytest.raises(ValueError, match="read for screening on"):
        ENGINE.screen(record, AS_OF - timedelta(days=1))


def test_rules_that_read_results_of_any_age_keep_them() -> None:
    """Histology from a pathology Observation counts whatever its age: its codes have no
    bound, so such a result is always built."""
    horizons = ENGINE.observations_read.horizons
    pathology = ENGINE.terminology.code_set("pathology_histology_observation")
    assert pathology.codes
    assert all(horizons[code] is None for code in pathology.codes)
    platelets = ENGINE.terminology.code_set("platelets")
    assert all(isinstance(horizons[code], int) for code in platelets.codes)


def test_without_a_screening_date_every_read_result_is_built() -> None:
    resources = realistic_patient("undated").resources
    record = build_record(resources, observations_read=ENGINE.observations_read)
    assert record.read_for is None
    assert record.older_observations == 0
    assert len(record.observations) == sum(
        1 for r in resources if r["resourceType"] == "Observation"
    )
    earlier = ENGINE.screen(record, AS_OF - timedelta(days=3650))  # any date: nothing left out
    assert len(earlier.trials) == len(ENGINE.trials)
