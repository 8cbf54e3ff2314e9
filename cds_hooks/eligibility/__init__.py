"""Criteria engine: evaluate trial definitions over a patient's clinical facts."""

from cds_hooks.eligibility.engine import Engine
from cds_hooks.eligibility.results import (
    CriterionResult,
    Evidence,
    ScreeningResult,
    Status,
    TrialResult,
    TrialStatus,
)

__all__ = [
    "CriterionResult",
    "Engine",
    "Evidence",
    "ScreeningResult",
    "Status",
    "TrialResult",
    "TrialStatus",
]
