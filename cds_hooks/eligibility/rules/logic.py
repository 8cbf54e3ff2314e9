"""Three-valued (Kleene) logic over rules: all_of, any_of, not, first_decided, when.

unknown is "could be either": all_of is not_met as soon as one part is not_met whatever
the unknown parts turn out to be, any_of is met as soon as one part is met, and not
leaves unknown unknown.
"""

from __future__ import annotations

from cds_hooks.eligibility.context import Screening, Window
from cds_hooks.eligibility.rules.base import MET, NOT_MET, UNKNOWN, Outcome, join
from cds_hooks.eligibility.rules.registry import evaluate, rule
from cds_hooks.trials.params import AllOf, AnyOf, FirstDecided, Not, RuleParams, When


def _children(rules: list[RuleParams], s: Screening, window: Window) -> list[Outcome]:
    return [evaluate(child, s, window) for child in rules]


def all_of(p: AllOf, s: Screening, window: Window) -> Outcome:
    """Every part must hold: one part not_met makes the whole not_met; one unknown part
    leaves it unknown (ALT and AST, one missing → unknown)."""
    outcomes = _children(list(p.rules), s, window)
    failed = [o for o in outcomes if o.status == NOT_MET]
    if failed:
        return join(NOT_MET, failed)
    if all(o.status == MET for o in outcomes):
        return join(MET, outcomes)
    return join(UNKNOWN, outcomes)


def any_of(p: AnyOf, s: Screening, window: Window) -> Outcome:
    """One part holding suffices; not_met only when every part is not_met."""
    outcomes = _children(list(p.rules), s, window)
    passed = [o for o in outcomes if o.status == MET]
    if passed:
        return join(MET, passed)
    if all(o.status == NOT_MET for o in outcomes):
        return join(NOT_MET, outcomes)
    return join(UNKNOWN, outcomes)


def not_(p: Not, s: Screening, window: Window) -> Outcome:
    inner = evaluate(p.rule, s, window)
    flipped = {MET: NOT_MET, NOT_MET: MET, UNKNOWN: UNKNOWN}[inner.status]
    return Outcome(flipped, inner.reason, inner.evidence)


def first_decided(p: FirstDecided, s: Screening, window: Window) -> Outcome:
    """Routes in order of preference; the first that decides (met or not_met) wins.

    Used where one measure supersedes another: a measured creatinine clearance, when there
    is one, decides over the Cockcroft-Gault estimate.
    """
    outcomes = []
    decided: list[Outcome] = []
    for child in p.rules:
        outcome = evaluate(child, s, window)
        if outcome.status != UNKNOWN:
            if not p.newest:
                return outcome
            decided.append(outcome)
        outcomes.append(outcome)
    if decided:
        # max() keeps the first of equals: on the same day, the order of preference holds.
        return max(decided, key=_newest_evidence)
    return join(UNKNOWN, outcomes)


def _newest_evidence(outcome: Outcome) -> str:
    return max((e.date for e in outcome.evidence if e.date), default="")


def when(p: When, s: Screening, window: Window) -> Outcome:
    """`then` when the condition holds, `otherwise` when it does not; when the condition
    is unknown, the result is decided only if both branches agree."""
    condition = evaluate(p.condition, s, window)
    if condition.status == MET:
        return evaluate(p.then, s, window)
    skipped = Outcome(p.otherwise, f"{p.otherwise_text} ({condition.reason})", condition.evidence)
    if condition.status == NOT_MET:
        return skipped
    branch = evaluate(p.then, s, window)
    if branch.status == p.otherwise:
        return branch
    return join(UNKNOWN, [condition, branch])


# Registered here, not with a decorator on each function: mutation testing (scripts/mutate)
# leaves decorated functions unmutated, and these bodies decide the criteria.
rule(AllOf)(all_of)
rule(AnyOf)(any_of)
rule(Not)(not_)
rule(FirstDecided)(first_decided)
rule(When)(when)
