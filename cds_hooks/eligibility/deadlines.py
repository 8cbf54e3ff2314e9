"""When a screening goes stale: the date by which each decided criterion must be re-checked.

A criterion decided from a dated result holds only while that result is inside the
criterion's lookback window. The card ("needed by"), the report and the coordinators'
worklist (`screen_by`) all read the same dates from here.
"""

from __future__ import annotations

from datetime import date, timedelta

from cds_hooks.eligibility.results import UNKNOWN, CriterionResult, TrialResult
from cds_hooks.trials.model import CriterionDefinition, TrialDefinition

# A Patient's birth date proves age, which does not expire with a lookback window.
_TIMELESS_PREFIXES = ("Patient/",)


def _full_date(text: str | None) -> date | None:
    if text is None or len(text) != 10:
        return None  # partial dates ("2026", "2026-02") cannot be dated to the day
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def needed_by(criterion: CriterionDefinition, result: CriterionResult) -> date | None:
    """The last day on which the evidence that decided `result` is still inside the window.

    None when the result is unknown (nothing to keep fresh) or rests on no dated evidence
    that expires (age from a birth date).
    """
    if result.status == UNKNOWN:
        return None
    expiries = [
        day + timedelta(days=criterion.lookback_days)
        for evidence in result.evidence
        if not evidence.reference.startswith(_TIMELESS_PREFIXES)
        and (day := _full_date(evidence.date)) is not None
    ]
    return min(expiries, default=None)


def screen_by(trial: TrialDefinition, result: TrialResult) -> date | None:
    """The first date any deciding evidence of this trial's screening falls out of its window."""
    dates = [d for c in result.criteria if (d := needed_by(trial.criterion(c.id), c)) is not None]
    return min(dates, default=None)
