"""build_record with several versions of one resource: the newer wins whatever the input
order (meta.lastUpdated with an offset first, then a numeric meta.versionId), versions that
cannot be ordered are both skipped with the reason, identical copies collapse, and
Observations no rule reads are dropped before any of this. Also ids that could be taken for
something else (the text "None", a Patient id with a slash)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from fhir_mappings.facts import UCUM
from fhir_mappings.record import RecordError, build_record
from tests.unit.test_record import PATIENT, obs

CONFLICT = "appears twice with different content; cannot tell which is current"


def version(value: float, **meta: str) -> dict[str, Any]:
    return obs(
        "dup",
        "2026-02-01",
        meta=meta,
        valueQuantity={"value": value, "system": UCUM, "code": "g/dL"},
    )


def kept_value(*resources: dict[str, Any]) -> float | None:
    """The value of the one version kept, or None when the versions were skipped."""
    record = build_record([PATIENT, *resources])
    if record.skipped:
        assert record.skipped == (("Observation/dup", CONFLICT),)
        assert record.observations == ()
        return None
    (fact,) = record.observations
    assert fact.value.quantity is not None
    return fact.value.quantity.value


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        # lastUpdated decides, with the offset taken into account.
        ({"lastUpdated": "2026-02-01T10:00:00Z"}, {"lastUpdated": "2026-02-01T10:00:01Z"}),
        ({"lastUpdated": "2026-02-01T10:00:00Z"}, {"lastUpdated": "2026-02-01T06:00:00-05:00"}),
        # lastUpdated decides over versionId when both differ.
        (
            {"lastUpdated": "2026-02-01T10:00:00Z", "versionId": "9"},
            {"lastUpdated": "2026-02-02T10:00:00Z", "versionId": "2"},
        ),
        # The same instant (however written): versionId decides.
        (
            {"lastUpdated": "2026-02-01T10:00:00Z", "versionId": "2"},
            {"lastUpdated": "2026-02-01T11:00:00+01:00", "versionId": "3"},
        ),
        # A lastUpdated on one version only, or without an offset: versionId decides.
        ({"lastUpdated": "2026-02-01T10:00:00Z", "versionId": "4"}, {"versionId": "5"}),
        (
            {"lastUpdated": "2026-02-03T10:00:00", "versionId": "4"},
            {"lastUpdated": "2026-02-01T10:00:00", "versionId": "10"},
        ),
        ({"lastUpdated": "yesterday", "versionId": "1"}, {"versionId": "2"}),
        ({"versionId": "9"}, {"versionId": "10"}),  # numbers, not text
    ],
)
def test_the_newer_version_wins_in_either_order(
    older: dict[str, str], newer: dict[str, str]
) -> None:
    first, second = version(1.0, **older), version(2.0, **newer)
    assert kept_value(first, second) == 2.0
    assert kept_value(second, first) == 2.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({}, {}),
        ({"versionId": "2"}, {"versionId": "2"}),
        ({"versionId": "2"}, {}),
        ({"versionId": "v2"}, {"versionId": "v3"}),  # not numbers: cannot be ordered
        ({"versionId": "-1"}, {"versionId": "2"}),
        ({"lastUpdated": "2026-02-01T10:00:00Z"}, {"lastUpdated": "2026-02-01T11:00:00+01:00"}),
        ({"lastUpdated": "2026-02-01T10:00:00"}, {"lastUpdated": "2026-02-01T11:00:00"}),
    ],
)
def test_versions_that_cannot_be_ordered_are_both_skipped(
    a: dict[str, str], b: dict[str, str]
) -> None:
    assert kept_value(version(1.0, **a), version(2.0, **b)) is None
    assert kept_value(version(2.0, **b), version(1.0, **a)) is None


def test_versions_with_meta_that_is_not_an_object_cannot_be_ordered() -> None:
    a = {**version(1.0), "meta": ["versionId", "1"]}
    b = {**version(2.0), "meta": "2"}
    assert kept_value(a, b) is None
    numeric = {**version(3.0), "meta": {"versionId": 3}}  # a JSON number, not FHIR's id
    assert kept_value(numeric, version(4.0, versionId="4")) is None


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_three_versions_keep_the_newest_in_any_order(order: tuple[int, ...]) -> None:
    versions = [version(float(n), versionId=str(n)) for n in (1, 2, 3)]
    assert kept_value(*(versions[i] for i in order)) == 3.0


def test_identical_copies_collapse_and_keep_their_place() -> None:
    dup = version(1.0, versionId="1")
    record = build_record([PATIENT, obs("a", "2026-02-01"), dup, dict(dup), obs("b", "2026-02-01")])
    # Same day, untimed: input order, with the copy in the first one's place.
    assert [o.ref for o in record.observations] == [
        "Observation/a",
        "Observation/dup",
        "Observation/b",
    ]
    assert record.skipped == ()


def test_a_conflict_is_reported_once_and_only_where_the_resource_first_stood() -> None:
    record = build_record(
        [PATIENT, version(1.0), obs("a", "2026-02-01"), version(2.0), version(3.0)]
    )
    assert [o.ref for o in record.observations] == ["Observation/a"]
    assert record.skipped == (("Observation/dup", CONFLICT),)


def test_other_resource_types_are_deduplicated_by_type_and_id() -> None:
    condition = {
        "resourceType": "Condition",
        "id": "dup",  # the same id as the Observation: another resource
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "Rectal cancer"},
        "recordedDate": "2025-01-01",
    }
    newer = {**condition, "meta": {"versionId": "2"}, "recordedDate": "2025-02-01"}
    record = build_record([PATIENT, {**condition, "meta": {"versionId": "1"}}, version(1.0), newer])
    assert [c.ref for c in record.conditions] == ["Condition/dup"]
    assert record.conditions[0].date is not None
    assert record.conditions[0].date.isoformat() == "2025-02-01"
    assert [o.ref for o in record.observations] == ["Observation/dup"]
    unordered = build_record([PATIENT, condition, {**condition, "recordedDate": "2025-02-01"}])
    assert unordered.conditions == ()
    assert unordered.skipped == (("Condition/dup", CONFLICT),)


def test_a_newer_patient_version_is_the_patient() -> None:
    old = {**PATIENT, "meta": {"versionId": "1"}, "gender": "male"}
    new = {**PATIENT, "meta": {"versionId": "2"}}
    for order in ([old, new], [new, old]):
        assert build_record(order).patient.gender == "female"
    with pytest.raises(RecordError):
        build_record([{**PATIENT, "gender": "male"}, PATIENT])


# --------------------------------------------------------------------------- unread first
def test_unread_observations_are_dropped_before_versions_are_compared() -> None:
    engine = Engine.default()
    cholesterol = {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]}
    unread = [
        obs("chol", "2026-02-01", code=cholesterol),
        obs("chol", "2026-02-01", code=cholesterol, status="amended"),
    ]
    read = [obs("hb", "2026-02-01"), obs("hb", "2026-02-01", status="amended")]
    selected = build_record([PATIENT, *unread, *read], observations_read=engine.observations_read)
    assert selected.observations == ()
    # The read pair still conflicts; the unread one is not reported at all.
    assert selected.skipped == (("Observation/hb", CONFLICT),)
    everything = build_record([PATIENT, *unread, *read])
    assert everything.skipped == (("Observation/chol", CONFLICT), ("Observation/hb", CONFLICT))


def test_the_selection_never_drops_a_resource_of_another_type() -> None:
    engine = Engine.default()
    procedure = {
        "resourceType": "Procedure",
        "id": "pr",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "Colonoscopy"},
        "performedDateTime": "2026-01-01",
    }
    record = build_record(
        [PATIENT, procedure, obs("hb", "2026-02-01")], observations_read=engine.observations_read
    )
    assert [p.ref for p in record.procedures] == ["Procedure/pr"]
    assert [o.ref for o in record.observations] == ["Observation/hb"]


# --------------------------------------------------------------------------- ids
def test_an_id_spelled_none_is_not_confused_with_a_missing_id() -> None:
    record = build_record([PATIENT, obs("None", "2026-02-01"), obs("x", "2026-02-02", id=None)])
    assert [o.ref for o in record.observations] == ["Observation/None"]
    assert record.skipped == (("Observation/(no id)", "the resource has no id"),)


def test_a_patient_id_with_a_slash_matches_only_references_to_all_of_it() -> None:
    # Not a valid FHIR id, but sent: no part of it may stand for the whole patient.
    record = build_record(
        [
            {**PATIENT, "id": "p/1"},
            obs("whole", "2026-02-01", subject={"reference": "Patient/p/1"}),
            obs("head", "2026-02-01", subject={"reference": "Patient/p"}),
            obs("tail", "2026-02-01", subject={"reference": "Patient/1"}),
        ]
    )
    assert record.patient.ref == "Patient/p/1"
    assert [o.ref for o in record.observations] == ["Observation/whole"]
    assert record.skipped == (
        ("Observation/head", "belongs to Patient/p, not Patient/p/1"),
        ("Observation/tail", "belongs to Patient/1, not Patient/p/1"),
    )
