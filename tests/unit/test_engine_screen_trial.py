"""Engine.screen_trial called on its own (no shared screening): it builds its own, screens
every criterion unless asked to stop at the first exclusion, and gives the same results as
a screening of all trials."""

from __future__ import annotations

from datetime import date
from typing import Any

from cds_hooks.eligibility import Engine
from cds_hooks.trials.loader import parse_trial
from tests.unit.test_engine_rules import AGE, AS_OF, TERMINOLOGY, record

TOO_OLD = {"type": "age_range", "label": "Age", "min": 18, "max": 40}


def trial() -> Any:
    raw = {
        "id": "two-rules",
        "title": "Two rules",
        "short_title": "Two rules",
        "summary": "test",
        "registry": {"id": "NCT1", "url": "https://example.org", "status": "recruiting"},
        "target_condition": {"code_sets": ["rectal_cancer_dx"]},
        "treatment_orders": {"code_sets": []},
        "lookback_days": 28,
        "criteria": [
            {"id": "young", "title": "Y", "role": "inclusion", "kind": "data", "rule": TOO_OLD},
            {"id": "adult", "title": "A", "role": "inclusion", "kind": "data", "rule": AGE},
        ],
    }
    return parse_trial(raw, "test")


def test_screen_trial_alone_screens_every_criterion() -> None:
    definition = trial()
    engine = Engine([definition], TERMINOLOGY)
    patient = record(birth=date(1960, 5, 1))
    alone = engine.screen_trial(definition, patient, AS_OF)
    assert [c.id for c in alone.criteria] == ["young", "adult"]
    assert [c.status for c in alone.criteria] == ["not_met", "met"]
    assert (alone.status, alone.complete) == ("not_eligible", True)
    assert alone == engine.screen(patient, AS_OF).trials[0]


def test_screen_trial_can_stop_at_the_first_exclusion() -> None:
    definition = trial()
    engine = Engine([definition], TERMINOLOGY)
    short = engine.screen_trial(definition, record(), AS_OF, until_excluded=True)
    assert [c.id for c in short.criteria] == ["young"]
    assert (short.status, short.complete) == ("not_eligible", False)
