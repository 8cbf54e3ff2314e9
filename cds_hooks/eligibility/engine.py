"""The eligibility engine: trial definitions × one patient's facts → screening results."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from cds_hooks.eligibility.context import CodeIndex, Screening, Window
from cds_hooks.eligibility.results import (
    MET,
    NOT_MET,
    UNKNOWN,
    CriterionResult,
    Role,
    ScreeningResult,
    TrialResult,
    TrialStatus,
)
from cds_hooks.eligibility.rules import EVALUATORS, Outcome, evaluate
from cds_hooks.eligibility.rules.base import day, obs_evidence
from cds_hooks.eligibility.rules.registry import plan
from cds_hooks.trials import TrialDefinition, TrialDefinitionError, load_trials
from fhir_mappings.facts import Code, ObservationFact, PatientRecord
from fhir_mappings.selection import ObservationSelection
from fhir_mappings.terminology import Terminology, load_terminology

log = logging.getLogger(__name__)


def trial_status(criteria: Sequence[CriterionResult], trial: TrialDefinition) -> TrialStatus:
    """An inclusion not met or an exclusion met excludes; every data criterion decided in the
    patient's favour makes them likely eligible; anything still unknown keeps them at best
    possibly eligible (attestations always need a person, so they never block "likely")."""
    if any(c.fails for c in criteria):
        return "not_eligible"
    kinds = {c.id: c.kind for c in trial.criteria}
    if all(c.passes for c in criteria if kinds[c.id] == "data"):
        return "likely_eligible"
    return "possibly_eligible"


def _safe(outcome: Outcome, role: Role = "inclusion") -> Outcome:
    """Clinical safety net, whatever a rule says.

    `met` needs dated evidence: for an inclusion it would admit the patient, for an
    exclusion it would turn them away, and neither may rest on nothing. An exclusion
    `not_met` clears the patient, so it needs evidence too: a decisive result, or the
    named search a rule ran where its definition accepts the record's silence as a clear.
    An exclusion that comes back not_met with no evidence at all is unknown.
    """
    if outcome.status == MET and not any(e.date for e in outcome.evidence):
        return Outcome(UNKNOWN, f"{outcome.reason} (no dated evidence)", outcome.evidence)
    if role == "exclusion" and outcome.status == NOT_MET and not outcome.evidence:
        return Outcome(UNKNOWN, f"{outcome.reason} (nothing on record clears it)")
    return outcome


def _with_passed_over(
    outcome: Outcome, passed_over: Sequence[tuple[ObservationFact, str]]
) -> Outcome:
    """The decision stands on older results, but newer ones that could not decide (still
    preliminary, or without a value) are named, and listed as evidence that did not
    count: the answer may be about to change."""
    named = ", ".join(f"{f.ref} on {day(f)} ({why})" for f, why in passed_over)
    plural = "s" if len(passed_over) > 1 else ""
    return Outcome(
        outcome.status,
        f"{outcome.reason}; newer result{plural} that did not count: {named}",
        (
            *outcome.evidence,
            *(obs_evidence(f, note=f"{why}, not counted") for f, why in passed_over),
        ),
    )


def _horizons(trials: Sequence[TrialDefinition], index: CodeIndex) -> dict[Code, int | None]:
    """Per indexed code, the most days back any criterion of any trial reads its results
    over (None: some rule reads them at any age, or a code set has no known bound)."""
    by_set: dict[str, int | None] = {}
    for trial in trials:
        for criterion in trial.criteria:
            for name, days in criterion.observation_horizons():
                known = by_set.get(name, 0)
                by_set[name] = None if days is None or known is None else max(known, days)
    horizons: dict[Code, int | None] = {}
    for code, names in index.by_code.items():
        bounds = [by_set.get(name) for name in names]
        horizons[code] = None if None in bounds else max(b for b in bounds if b is not None)
    return horizons


class Engine:
    def __init__(self, trials: Sequence[TrialDefinition], terminology: Terminology) -> None:
        self.terminology = terminology
        self.trials: Mapping[str, TrialDefinition] = {t.id: t for t in trials}
        for trial in trials:
            self._check(trial)
        # One index over every trial's Observation code sets: a patient's results are
        # bucketed once per screening, and every trial reads the same buckets (and the
        # same cached searches: creatinine over 28 days is one search, however many
        # trials ask).
        names = sorted({n for t in trials for n in t.observation_code_sets()})
        self._index = CodeIndex.build(terminology, names)
        # The Observations any rule reads (the index's own codes and prefixed sets); the
        # record need not hold the others.
        index = self._index
        self.observations_read = ObservationSelection(
            frozenset(index.by_code), index.prefixed, _horizons(trials, index)
        )
        self._plan = plan(c.params for t in trials for c in t.criteria if c.params is not None)

    def _check(self, trial: TrialDefinition) -> None:
        """Fail at start-up, not mid-request, if a definition names something unknown."""
        missing = sorted(n for n in trial.all_code_sets() if n not in self.terminology.code_sets)
        if missing:
            raise TrialDefinitionError(f"trial {trial.id}: unknown code sets {missing}")
        for criterion in trial.criteria:
            if criterion.params is None:
                raise TrialDefinitionError(f"trial {trial.id}: criterion {criterion.id}: no rule")
            for rule in criterion.params.walk():
                if rule.type not in EVALUATORS:
                    raise TrialDefinitionError(
                        f"trial {trial.id}: criterion {criterion.id}: unknown rule type "
                        f"{rule.type!r}"
                    )

    @classmethod
    def default(cls, trials_dir: Path | None = None) -> Engine:
        return cls(load_trials(trials_dir), load_terminology())

    def screen_trial(
        self,
        trial: TrialDefinition,
        record: PatientRecord,
        as_of: date,
        shared: Screening | None = None,
        *,
        until_excluded: bool = False,
    ) -> TrialResult:
        """One trial's results. `shared` is a screening of the same record and day for
        another trial: its buckets and cached searches are reused. With `until_excluded`,
        evaluation stops at the first criterion that excludes the patient: the status
        (not eligible) is then known, and the result says it is incomplete."""
        if shared is None:
            shared = Screening.build(record, as_of, self.terminology, self._index, plan=self._plan)
        screening = shared.for_trial(trial.registry_id)
        windows: dict[int, Window] = {}
        results = []
        for criterion in trial.criteria:
            window = windows.get(criterion.lookback_days)
            if window is None:
                window = windows[criterion.lookback_days] = Window(as_of, criterion.lookback_days)
            try:
                rule = criterion.params if criterion.params is not None else criterion.rule
                outcome = _safe(evaluate(rule, screening, window), criterion.role)
                if passed_over := screening.take_passed_over():
                    outcome = _with_passed_over(outcome, passed_over)
            except Exception:
                # A bug must not drop the patient or hide the other criteria.
                log.exception("criterion %s of %s failed", criterion.id, trial.id)
                outcome = Outcome(UNKNOWN, "could not be evaluated (internal error)")
            result = CriterionResult(
                criterion.id, outcome.status, outcome.reason, outcome.evidence, criterion.role
            )
            results.append(result)
            if until_excluded and result.fails:
                break
        return TrialResult(
            trial.id,
            trial_status(results, trial),
            tuple(results),
            registry=trial.registry_id,
            recruitment_status=trial.recruitment_status,
            complete=len(results) == len(trial.criteria),
        )

    def screen(
        self,
        record: PatientRecord,
        as_of: date,
        trial_ids: Sequence[str] | None = None,
        *,
        until_excluded: bool = False,
    ) -> ScreeningResult:
        """Every trial's (or `trial_ids`') results. `until_excluded`: see `screen_trial`;
        for callers that use only the results of trials the patient may be eligible for
        (the hook: a trial the patient is excluded from gets no card and no report)."""
        ids = list(trial_ids) if trial_ids is not None else list(self.trials)
        unknown = [i for i in ids if i not in self.trials]
        if unknown:
            raise KeyError(f"unknown trial {unknown[0]!r}")
        shared = Screening.build(record, as_of, self.terminology, self._index, plan=self._plan)
        return ScreeningResult(
            patient=record.patient.ref,
            as_of=as_of,
            trials=tuple(
                self.screen_trial(
                    self.trials[i], record, as_of, shared, until_excluded=until_excluded
                )
                for i in ids
            ),
        )
