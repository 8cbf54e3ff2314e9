"""Rule type → evaluator. Family modules register themselves on import.

The engine plans its trials' rules once, at start-up (`plan`): each rule's evaluator is
looked up then, not per patient, and structurally equal rules (the same haemoglobin
threshold in two trials, the same "no brain metastases" in two criteria) share one key,
so a screening evaluates each of them once and every criterion holding it reads the same
outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class PlannedRule:
    """One rule of a loaded trial, ready to evaluate."""

    rule: RuleParams  # held, so the id the plan is keyed by stays this rule's
    evaluator: Evaluator
    key: int  # equal for structurally equal rules, whichever trial holds them
    per_trial: bool  # reads the trial being screened: its outcome is never shared
    # Held more than once (by several criteria or trials). A rule held once is evaluated
    # straight away: remembering its outcome would cost more than it saves.
    shared: bool


def plan(rules: Iterable[RuleParams]) -> dict[int, PlannedRule]:
    """Every rule of `rules` (and each part of them), by id."""
    nodes = {id(node): node for top in rules for node in top.walk()}
    keys: dict[str, int] = {}
    # A rule's repr names its class and every field, nested rules included: equal reprs
    # are structurally equal rules.
    key_of = {i: keys.setdefault(repr(node), len(keys)) for i, node in nodes.items()}
    held = Counter(key_of.values())
    return {
        i: PlannedRule(
            node,
            EVALUATORS[node.type],
            key_of[i],
            per_trial=any(part.reads_trial() for part in node.walk()),
            shared=held[key_of[i]] > 1,
        )
        for i, node in nodes.items()
    }


def evaluate(params: RuleParams | Mapping[str, Any], s: Screening, window: Window) -> Outcome:
    planned = s.plan.get(id(params))
    if planned is not None and planned.rule is params:
        if not planned.shared:
            return planned.evaluator(params, s, window)
        trial = s.trial if planned.per_trial else ""
        return s.remembered((planned.key, window.days, trial), planned.evaluator, params, window)
    typed = params if isinstance(params, RuleParams) else parse_rule(params)
    return EVALUATORS[typed.type](typed, s, window)
