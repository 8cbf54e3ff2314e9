"""build_record orders one day's results by their time of day to the second, whatever the
order the server returned them in: the newest result is the one rules read first."""

from __future__ import annotations

import itertools

import pytest

from fhir_mappings.record import build_record
from tests.unit.test_record import PATIENT, obs

TIMES = {
    "early": "2026-03-01T09:59:59",
    "ten": "2026-03-01T10:00:00",
    "ten-oh-one": "2026-03-01T10:00:01",
    "later": "2026-03-01T10:01:00",
}


@pytest.mark.parametrize("order", list(itertools.permutations(TIMES)))
def test_one_day_is_ordered_by_time_of_day(order: tuple[str, ...]) -> None:
    resources = [PATIENT, *(obs(name, TIMES[name]) for name in order)]
    record = build_record(resources)
    assert [o.ref for o in record.observations] == [
        "Observation/later",
        "Observation/ten-oh-one",
        "Observation/ten",
        "Observation/early",
    ]
