"""The rule registry: a rule type's evaluator is registered under the name its parameter
model declares, and `evaluate` hands it typed parameters, parsing a mapping first."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from cds_hooks.eligibility.context import Screening, Window
from cds_hooks.eligibility.rules import EVALUATORS, evaluate
from cds_hooks.eligibility.rules.base import Outcome
from cds_hooks.eligibility.rules.registry import rule
from cds_hooks.trials.params import AgeRange, Deceased, RuleParams

# `evaluate` asks the screening only for its plan; these rules are in none.
NO_SCREENING = cast(Screening, SimpleNamespace(plan={}))
NO_WINDOW = cast(Window, None)
AGE = {"type": "age_range", "label": "Age", "min": 18}


def _spy(seen: list[RuleParams]) -> Any:
    def evaluator(params: RuleParams, s: Screening, window: Window) -> Outcome:
        seen.append(params)
        return Outcome("met", "spy")

    return evaluator


def test_a_registered_evaluator_is_stored_under_its_models_type_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # monkeypatch restores both entries whatever `rule` writes.
    monkeypatch.setitem(EVALUATORS, "age_range", EVALUATORS["age_range"])
    monkeypatch.setitem(EVALUATORS, "deceased", EVALUATORS["deceased"])
    before = dict(EVALUATORS)
    spy = _spy([])
    assert rule(AgeRange)(spy) is spy
    assert EVALUATORS["age_range"] is spy
    # Only that one entry changed.
    assert {k: v for k, v in EVALUATORS.items() if k != "age_range"} == {
        k: v for k, v in before.items() if k != "age_range"
    }
    assert EVALUATORS["deceased"] is before["deceased"]


def test_evaluate_parses_a_mapping_and_dispatches_on_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[RuleParams] = []
    monkeypatch.setitem(EVALUATORS, "age_range", _spy(seen))
    outcome = evaluate(AGE, NO_SCREENING, NO_WINDOW)
    assert (outcome.status, outcome.reason) == ("met", "spy")
    (params,) = seen
    assert isinstance(params, AgeRange)
    assert (params.min, params.max) == (18, None)


def test_evaluate_hands_typed_parameters_over_as_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[RuleParams] = []
    monkeypatch.setitem(EVALUATORS, "deceased", _spy(seen))
    typed = Deceased(type="deceased", label="Alive")
    evaluate(typed, NO_SCREENING, NO_WINDOW)
    assert seen == [typed]
    assert seen[0] is typed
