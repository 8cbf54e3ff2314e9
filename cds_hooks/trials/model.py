"""Typed view of a validated trial definition."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cds_hooks.trials.params import Read, RuleParams
from fhir_mappings.medications import MEDICATION_TYPES

# Resource types whose code sets a caller asks for (`criterion.code_sets(...)`); the old
# name is kept for the card builder, which asks for the Observation sets a criterion reads.
OBSERVATION_PARAMS = frozenset({"Observation"})
_CONDITION_TYPES = frozenset({"Condition"})


@dataclass(frozen=True, slots=True)
class CriterionDefinition:
    id: str
    title: str
    kind: Literal["data", "attestation"]
    # inclusion: must be met. exclusion: `met` means the excluding condition holds.
    role: Literal["inclusion", "exclusion"]
    rule: Mapping[str, Any]  # the rule as written in the definition
    lookback_days: int
    source_text: str | None = None
    params: RuleParams | None = None  # the rule, typed (set by the loader)
    # What the rule reads, walked once: cards and reports ask for it per criterion.
    _reads: tuple[Read, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def reads(self) -> Iterator[Read]:
        if self._reads is None:
            walked = tuple(self.params.all_reads()) if self.params is not None else ()
            object.__setattr__(self, "_reads", walked)
            return iter(walked)
        return iter(self._reads)

    def observation_horizons(self) -> Iterator[tuple[str, int | None]]:
        """(code set, the most days back this criterion reads its Observations over) for
        every Observation code set it reads; None where a rule reads results of any age."""
        if self.params is None:
            return
        for rule in self.params.walk():
            days = self.lookback_days if rule.READS_OBSERVATIONS_IN_WINDOW else None
            for read in rule.own_reads():
                if read.resource_type == "Observation" and read.code_set is not None:
                    yield read.code_set, days

    def code_sets(self, resource_types: frozenset[str] | None = None) -> set[str]:
        return {
            r.code_set
            for r in self.reads()
            if r.code_set is not None
            and (resource_types is None or r.resource_type in resource_types)
        }


@dataclass(frozen=True, slots=True)
class TrialDefinition:
    id: str
    title: str
    short_title: str
    summary: str
    registry_id: str
    url: str
    # Registry vocabulary, lower case: recruiting, completed, active_not_recruiting, ...
    recruitment_status: str
    target_code_sets: tuple[str, ...]
    treatment_code_sets: tuple[str, ...]
    criteria: tuple[CriterionDefinition, ...]
    raw: Mapping[str, Any]
    _by_id: dict[str, CriterionDefinition] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def recruiting(self) -> bool:
        """Only a recruiting trial produces cards; the others stay screenable (CLI, batch)."""
        return self.recruitment_status == "recruiting"

    def criterion(self, criterion_id: str) -> CriterionDefinition:
        if not self._by_id:
            self._by_id.update((c.id, c) for c in self.criteria)
        return self._by_id[criterion_id]

    def reads(self) -> set[Read]:
        """Everything this trial's rules read (resource types and code sets)."""
        found = {Read("Patient"), Read("Condition")}  # the patient and the target condition
        for criterion in self.criteria:
            found.update(criterion.reads())
        return found

    def _collect(self, resource_types: frozenset[str]) -> set[str]:
        found: set[str] = set()
        for criterion in self.criteria:
            found |= criterion.code_sets(resource_types)
        return found

    def observation_code_sets(self) -> set[str]:
        return self._collect(frozenset({"Observation"}))

    def condition_code_sets(self) -> set[str]:
        return self._collect(_CONDITION_TYPES) | set(self.target_code_sets)

    def medication_code_sets(self) -> set[str]:
        return self._collect(MEDICATION_TYPES)

    def report_code_sets(self) -> set[str]:
        return self._collect(frozenset({"DiagnosticReport"}))

    def all_code_sets(self) -> set[str]:
        found: set[str] = set(self.target_code_sets) | set(self.treatment_code_sets)
        for criterion in self.criteria:
            found |= criterion.code_sets()
        return found
