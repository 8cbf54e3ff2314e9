"""Rule type → evaluator. Family modules register themselves on import."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from cds_hooks.eligibility.context import Screening, Window
from cds_hooks.eligibility.rules.base import Outcome
from cds_hooks.trials.params import RULE_MODELS, RuleParams, parse_rule

P = TypeVar("P", bound=RuleParams)
Evaluator = Callable[[Any, Screening, Window], Outcome]
EVALUATORS: dict[str, Evaluator] = {}


def rule(model: type[P]) -> Callable[[Callable[[P, Screening, Window], Outcome]], Evaluator]:
    """Register the evaluator of one rule type (named by its parameter model)."""
    (name,) = (t for t, m in RULE_MODELS.items() if m is model)

    def register(fn: Callable[[P, Screening, Window], Outcome]) -> Evaluator:
        EVALUATORS[name] = fn
        return fn

    return register


def evaluate(params: RuleParams | Mapping[str, Any], s: Screening, window: Window) -> Outcome:
    typed = params if isinstance(params, RuleParams) else parse_rule(params)
    return EVALUATORS[typed.type](typed, s, window)
