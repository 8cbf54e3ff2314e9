"""Stopping a trial at the first excluding criterion (the hook's mode) never changes a
status, and says when it stopped."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.screening import record_from_bundle

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = sorted(
    [*ROOT.glob("fixtures/patients/*/bundle.json"), *ROOT.glob("fixtures/realistic/*/bundle.json")]
)
AS_OF = date(2026, 3, 2)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.parent.name)
def test_same_status_and_the_evaluated_criteria_are_a_prefix(engine: Engine, path: Path) -> None:
    record = record_from_bundle(json.loads(path.read_text()), engine)
    full = engine.screen(record, AS_OF)
    short = engine.screen(record, AS_OF, until_excluded=True)
    for whole, part in zip(full.trials, short.trials, strict=True):
        assert part.status == whole.status
        assert whole.complete
        assert part.criteria == whole.criteria[: len(part.criteria)]
        if part.complete:
            assert part.criteria == whole.criteria
        else:
            # Stopped exactly at the first criterion that excludes the patient.
            assert part.status == "not_eligible"
            assert part.criteria[-1].fails
            assert not any(c.fails for c in part.criteria[:-1])


def test_some_fixture_really_stops_early(engine: Engine) -> None:
    stopped = 0
    for path in BUNDLES:
        record = record_from_bundle(json.loads(path.read_text()), engine)
        result = engine.screen(record, AS_OF, until_excluded=True)
        stopped += sum(not t.complete for t in result.trials)
    assert stopped > 0
