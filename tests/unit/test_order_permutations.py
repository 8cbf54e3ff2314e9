"""Wherever "the newer version" or "the latest result" decides, every input order must give
the same answer: the deduplication of repeated resources and the newest-first ordering of
facts are tried in all permutations of their input."""

from __future__ import annotations

import copy
from itertools import permutations
from typing import Any

import pytest

from fhir_mappings.facts import UCUM
from fhir_mappings.record import RecordError, build_record
from tests.unit.test_record import PATIENT, obs


def hb(
    value: float, oid: str = "dup", day: str | None = "2026-02-01", **extra: Any
) -> dict[str, Any]:
    return obs(oid, day, valueQuantity={"value": value, "system": UCUM, "code": "g/dL"}, **extra)


def kept_values(resources: list[dict[str, Any]]) -> list[float]:
    record = build_record(resources)
    return [o.value.quantity.value for o in record.observations if o.value.quantity]


VERSIONED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("versionId", {"versionId": "2"}, {"versionId": "1"}),
    ("versionId is a number, not text", {"versionId": "10"}, {"versionId": "9"}),
    (
        "lastUpdated",
        {"lastUpdated": "2026-02-02T08:00:00Z"},
        {"lastUpdated": "2026-02-01T08:00:00Z"},
    ),
    (
        "lastUpdated with offsets",
        {"lastUpdated": "2026-02-01T06:00:00-05:00"},  # 11:00Z
        {"lastUpdated": "2026-02-01T10:00:00Z"},
    ),
    (
        "lastUpdated wins over versionId",
        {"lastUpdated": "2026-02-02T08:00:00Z", "versionId": "1"},
        {"lastUpdated": "2026-02-01T08:00:00Z", "versionId": "2"},
    ),
    (
        "equal lastUpdated: versionId decides",
        {"lastUpdated": "2026-02-01T08:00:00Z", "versionId": "3"},
        {"lastUpdated": "2026-02-01T08:00:00Z", "versionId": "2"},
    ),
    (
        "lastUpdated without offset cannot be compared: versionId decides",
        {"lastUpdated": "2026-01-01T08:00:00", "versionId": "5"},
        {"lastUpdated": "2026-02-01T08:00:00", "versionId": "4"},
    ),
    (
        "unreadable lastUpdated: versionId decides",
        {"lastUpdated": "yesterday", "versionId": "5"},
        {"lastUpdated": "2026-02-01T08:00:00Z", "versionId": "4"},
    ),
]


@pytest.mark.parametrize(
    ("newer_meta", "older_meta"), [v[1:] for v in VERSIONED], ids=[v[0] for v in VERSIONED]
)
def test_the_newer_version_wins_in_every_input_order(
    newer_meta: dict[str, Any], older_meta: dict[str, Any]
) -> None:
    newer = hb(12.5, meta=newer_meta)
    older = hb(9.1, meta=older_meta)
    other = hb(14.0, oid="other", day="2026-01-05")
    for order in permutations([PATIENT, newer, older, other]):
        assert kept_values(list(order)) == [12.5, 14.0], order


UNORDERABLE: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("no meta", {}, {}),
    ("same versionId", {"versionId": "2"}, {"versionId": "2"}),
    ("non-numeric versionId", {"versionId": "b"}, {"versionId": "a"}),
    ("only one has a versionId", {"versionId": "2"}, {}),
    (
        "only one has lastUpdated",
        {"lastUpdated": "2026-02-02T08:00:00Z"},
        {},
    ),
    ("versionId that is not text", {"versionId": 2}, {"versionId": 1}),
]


@pytest.mark.parametrize(
    ("meta_a", "meta_b"), [v[1:] for v in UNORDERABLE], ids=[v[0] for v in UNORDERABLE]
)
def test_versions_that_cannot_be_ordered_are_both_skipped_in_every_order(
    meta_a: dict[str, Any], meta_b: dict[str, Any]
) -> None:
    a = hb(12.5, meta=meta_a)
    b = hb(9.1, meta=meta_b)
    for order in permutations([PATIENT, a, b]):
        record = build_record(list(order))
        assert record.observations == ()
        assert record.skipped == (
            (
                "Observation/dup",
                "appears twice with different content; cannot tell which is current",
            ),
        )


def test_identical_copies_collapse_in_every_order() -> None:
    one = hb(12.5, meta={"versionId": "1"})
    for order in permutations([PATIENT, one, copy.deepcopy(one), copy.deepcopy(one)]):
        record = build_record(list(order))
        assert [o.ref for o in record.observations] == ["Observation/dup"]
        assert record.skipped == ()


def test_a_newer_patient_version_is_the_patient_in_every_order() -> None:
    old = {**PATIENT, "gender": "male", "meta": {"versionId": "1"}}
    new = {**PATIENT, "gender": "female", "meta": {"versionId": "2"}}
    for order in permutations([old, new, hb(12.5)]):
        assert build_record(list(order)).patient.gender == "female"


def test_two_unorderable_patient_versions_are_refused_in_every_order() -> None:
    a = {**PATIENT, "gender": "male"}
    for order in permutations([a, PATIENT, hb(12.5)]):
        with pytest.raises(RecordError, match="appears twice with different content"):
            build_record(list(order))


def test_same_type_and_id_only_collide_within_one_type() -> None:
    condition = {
        "resourceType": "Condition",
        "id": "dup",
        "subject": {"reference": "Patient/p1"},
        "recordedDate": "2026-01-01",
    }
    for order in permutations([PATIENT, hb(12.5), condition]):
        record = build_record(list(order))
        assert [o.ref for o in record.observations] == ["Observation/dup"]
        assert [c.ref for c in record.conditions] == ["Condition/dup"]


def test_newest_first_whatever_the_input_order() -> None:
    results = [
        hb(1.0, oid="a", day="2026-02-03"),
        hb(2.0, oid="b", day="2026-02-02T18:30:00+01:00"),
        hb(3.0, oid="c", day="2026-02-02T08:15:00+01:00"),
        hb(4.0, oid="d", day="2026-01-30"),
        hb(5.0, oid="e", day=None),
    ]
    for order in permutations(results):
        assert kept_values([PATIENT, *order]) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_the_time_of_day_orders_results_of_one_day_to_the_second() -> None:
    results = [
        hb(1.0, oid="a", day="2026-02-02T08:15:01Z"),
        hb(2.0, oid="b", day="2026-02-02T08:15:00Z"),
        hb(3.0, oid="c", day="2026-02-02T08:14:59Z"),
        hb(4.0, oid="d", day="2026-02-02T08:00:00Z"),
        hb(5.0, oid="e", day="2026-02-02T07:59:59Z"),
    ]
    for order in permutations(results):
        assert kept_values([PATIENT, *order]) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_timed_result_comes_before_an_untimed_one_of_the_same_day() -> None:
    # Midnight is a time of day too: 00:00:00 still sorts before "no time".
    timed = hb(1.0, oid="a", day="2026-02-02T00:00:00Z")
    untimed = hb(2.0, oid="b", day="2026-02-02")
    for order in permutations([timed, untimed]):
        assert kept_values([PATIENT, *order]) == [1.0, 2.0]
