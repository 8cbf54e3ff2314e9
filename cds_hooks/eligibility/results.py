"""What screening produces: per-criterion status with evidence, per-trial status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

Status = Literal["met", "not_met", "unknown"]
TrialStatus = Literal["likely_eligible", "possibly_eligible", "not_eligible"]
Role = Literal["inclusion", "exclusion"]
MET: Status = "met"
NOT_MET: Status = "not_met"
UNKNOWN: Status = "unknown"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of data that decided a criterion. `date` is ISO (may be partial for
    a birthDate such as "1958")."""

    reference: str
    value: float | int | str | bool | None
    unit: str | None
    date: str | None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reference": self.reference,
            "value": self.value,
            "unit": self.unit,
            "date": self.date,
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """`status` is the criterion's own truth: for an exclusion, `met` means the patient has
    the excluding condition (and is therefore not eligible)."""

    id: str
    status: Status
    reason: str
    evidence: tuple[Evidence, ...] = ()
    role: Role = "inclusion"

    @property
    def passes(self) -> bool:
        """Decided in the patient's favour: an inclusion met, or an exclusion not met."""
        return self.status == (MET if self.role == "inclusion" else NOT_MET)

    @property
    def fails(self) -> bool:
        """Decided against the patient: an inclusion not met, or an exclusion met."""
        return self.status == (NOT_MET if self.role == "inclusion" else MET)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "status": self.status,
            "reason": self.reason,
            "evidence": [e.to_json() for e in self.evidence],
        }


@dataclass(frozen=True, slots=True)
class TrialResult:
    trial: str
    status: TrialStatus
    criteria: tuple[CriterionResult, ...]
    registry: str = ""
    recruitment_status: str = "recruiting"
    # False when screening stopped at the first excluding criterion (the status is final,
    # the later criteria were not evaluated): never shown, never reported.
    complete: bool = True

    def criterion(self, criterion_id: str) -> CriterionResult:
        return next(c for c in self.criteria if c.id == criterion_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "registry": self.registry,
            "recruitment_status": self.recruitment_status,
            "status": self.status,
            "criteria": [c.to_json() for c in self.criteria],
        }


@dataclass(frozen=True, slots=True)
class ScreeningResult:
    patient: str
    as_of: date
    trials: tuple[TrialResult, ...]

    def to_json(self) -> dict[str, Any]:
        """The fixed shape of `trial-cds screen --format json`."""
        return {
            "patient": self.patient,
            "as_of": self.as_of.isoformat(),
            "trials": [t.to_json() for t in self.trials],
        }
