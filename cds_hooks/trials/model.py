"""Typed view of a validated trial definition."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

# Rule parameters that name code sets, by how the engine reads them. Prefetch templates and
# the code-set check at load time are derived from this one table.
OBSERVATION_PARAMS = frozenset(
    {
        "code_set",
        "creatinine",
        "weight",
        "msi",
        "proteins",
        "lesion_count",
        "site_count",
        "m_stage",
        "flag_code_set",
        "size_code_set",
        "pregnancy_test",
        "hcg_quantitative",
        "pregnancy_status",
        "contraception",
    }
)
VALUE_PARAMS = frozenset(
    {
        "stable_values",
        "high_values",
        "intact_values",
        "loss_values",
        "m0_values",
        "positive_values",
        "negative_values",
        "pregnant_values",
        "not_pregnant_values",
    }
)
CONDITION_PARAMS = frozenset(
    {
        "confirmed_code_sets",
        "disease_code_sets",
        "histology_code_sets",
        "secondary_code_sets",
        "body_site_code_set",
        "postmenopausal",
    }
)
MEDICATION_PARAMS = frozenset({"medication_code_sets"})
REPORT_PARAMS = frozenset({"report_code_sets"})
CODE_SET_PARAMS = (
    OBSERVATION_PARAMS | VALUE_PARAMS | CONDITION_PARAMS | MEDICATION_PARAMS | REPORT_PARAMS
)


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def iter_rules(rule: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield rule
    for child in rule.get("rules", []):
        yield from iter_rules(child)


@dataclass(frozen=True, slots=True)
class CriterionDefinition:
    id: str
    title: str
    kind: Literal["data", "attestation"]
    # inclusion: must be met. exclusion: `met` means the excluding condition holds.
    role: Literal["inclusion", "exclusion"]
    rule: Mapping[str, Any]
    lookback_days: int
    source_text: str | None = None

    def code_sets(self, params: frozenset[str]) -> set[str]:
        found: set[str] = set()
        for rule in iter_rules(self.rule):
            for key in params:
                found.update(_names(rule.get(key)))
        return found


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

    @property
    def recruiting(self) -> bool:
        """Only a recruiting trial produces cards; the others stay screenable (CLI, batch)."""
        return self.recruitment_status == "recruiting"

    def criterion(self, criterion_id: str) -> CriterionDefinition:
        return next(c for c in self.criteria if c.id == criterion_id)

    def _collect(self, params: frozenset[str]) -> set[str]:
        found: set[str] = set()
        for criterion in self.criteria:
            found |= criterion.code_sets(params)
        return found

    def observation_code_sets(self) -> set[str]:
        return self._collect(OBSERVATION_PARAMS)

    def condition_code_sets(self) -> set[str]:
        return self._collect(CONDITION_PARAMS) | set(self.target_code_sets)

    def medication_code_sets(self) -> set[str]:
        return self._collect(MEDICATION_PARAMS)

    def report_code_sets(self) -> set[str]:
        return self._collect(REPORT_PARAMS)

    def all_code_sets(self) -> set[str]:
        return (
            self._collect(CODE_SET_PARAMS)
            | set(self.target_code_sets)
            | set(self.treatment_code_sets)
        )
