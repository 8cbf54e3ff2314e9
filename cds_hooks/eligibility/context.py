"""Per-screening view of one patient's record, bucketed by the trial's code sets.

The buckets are built in one pass over the record, so each rule reads only the
Observations of its own code set: screening cost grows with the record, not with
record × criteria.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from fhir_mappings.facts import (
    COUNTED_OBSERVATION_STATUSES,
    Code,
    ConditionFact,
    ObservationComponent,
    ObservationFact,
    ObservationValue,
    PatientRecord,
)
from fhir_mappings.terminology import CodeSet, Terminology

if TYPE_CHECKING:  # the registry imports this module
    from cds_hooks.eligibility.rules.base import Outcome
    from cds_hooks.eligibility.rules.registry import Evaluator, PlannedRule

# Results withdrawn or never made: unlike a preliminary or status-less one, nothing to
# mention beside the result that decides.
VOID_OBSERVATION_STATUSES = frozenset({"cancelled", "entered-in-error", "registered"})
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
IMPLAUSIBLE = "implausible value"  # prefix of ObservationFact.problem set by fhir_mappings


@dataclass(slots=True)
class CodeIndex:
    """(system, code) → names of the code sets that hold it, for one trial.

    Exact codes are one dict lookup. Code sets that also match by prefix (hierarchical
    systems) are kept aside and asked only for codes the dict does not settle, so a trial
    whose Observation sets are all exact (the usual case) pays nothing for them.
    """

    by_code: dict[Code, tuple[str, ...]]
    prefixed: tuple[CodeSet, ...] = ()

    @classmethod
    def build(cls, terminology: Terminology, names: Sequence[str]) -> CodeIndex:
        by_code: dict[Code, list[str]] = {}
        prefixed: list[CodeSet] = []
        for name in names:
            code_set = terminology.code_set(name)
            for code in code_set.codes:
                by_code.setdefault(code, []).append(name)
            if code_set.code_prefixes:
                prefixed.append(code_set)
        return cls({code: tuple(sets) for code, sets in by_code.items()}, tuple(prefixed))

    def names(self, code: Code) -> tuple[str, ...]:
        exact = self.by_code.get(code, ())
        if not self.prefixed:
            return exact
        extra = tuple(
            cs.name for cs in self.prefixed if cs.name not in exact and cs.matches_code(code)
        )
        return exact + extra if extra else exact


@dataclass(slots=True)
class Window:
    """The days a criterion looks back over: [as_of − days, as_of], both inclusive."""

    as_of: date
    days: int
    start: date = field(init=False)

    def __post_init__(self) -> None:
        # Computed once: `contains` runs for every candidate result of every criterion.
        self.start = self.as_of - timedelta(days=self.days)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.as_of


@dataclass(slots=True)
class Candidate:
    """Outcome of looking for the most recent qualifying Observation of a code set."""

    fact: ObservationFact | None
    # Why nothing qualified (only meaningful when fact is None).
    reason: str = ""
    # The newest results when they disagree (`Screening.latest_single`).
    conflicting: tuple[ObservationFact, ...] = ()
    # Results newer than `fact`, inside the window, that could not decide, with why
    # (preliminary, no value): whoever reads the decision must know they are there.
    passed_over: tuple[tuple[ObservationFact, str], ...] = ()


def _value_key(fact: ObservationFact) -> tuple[object, ...]:
    """What a result says, for telling two results apart: its value (coded values by their
    codes, not their wording) and its components' values."""

    def said(value: ObservationValue) -> tuple[object, ...]:
        if value.codes:
            return (value.codes,)
        return (value.quantity, value.integer, value.boolean, value.text)

    return (said(fact.value), tuple(said(c.value) for c in fact.components))


def _no_value(fact: ObservationFact) -> str:
    if fact.value.data_absent_reason:
        return f"data absent: {fact.value.data_absent_reason}"
    flags = sorted(code for _system, code in fact.interpretation)
    return f"no value, only the interpretation {', '.join(flags)}" if flags else "no value"


@dataclass(slots=True)
class Screening:
    record: PatientRecord
    as_of: date
    terminology: Terminology
    observations: Mapping[str, list[ObservationFact]]
    components: Mapping[str, list[tuple[ObservationFact, ObservationComponent]]]
    # Registry id of the trial being screened: trial-scoped attestations must name it.
    trial: str = ""
    _conditions_cache: dict[str, list[ConditionFact]] = field(default_factory=dict)
    # Several rules read the same code set over the same window (creatinine for × ULN and
    # for Cockcroft-Gault); the search runs once per screening.
    _latest_cache: dict[tuple[str, int], Candidate] = field(default_factory=dict)
    # The loaded trials' rules, planned at start-up (`rules.registry.plan`): structurally
    # equal rules share a key, so one that several criteria or trials hold (haemoglobin
    # ≥ 9 g/dL over 28 days) is evaluated once per screening; `_outcomes` holds the results
    # (with the newer results their searches passed over), shared between trials.
    plan: Mapping[int, PlannedRule] = field(default_factory=dict)
    _outcomes: dict[
        tuple[int, int, str], tuple[Outcome, tuple[tuple[ObservationFact, str], ...]]
    ] = field(default_factory=dict)
    # Newer results passed over by the searches of the criterion being evaluated
    # (`take_passed_over`); never shared between trials.
    _passed_over: list[tuple[ObservationFact, str]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        record: PatientRecord,
        as_of: date,
        terminology: Terminology,
        index: CodeIndex,
        trial: str = "",
        plan: Mapping[int, PlannedRule] | None = None,
    ) -> Screening:
        if record.read_for is not None and as_of < record.read_for:
            # Results older than the windows of `read_for` were not built; windows ending
            # earlier could need them.
            raise ValueError(
                f"the record was read for screening on {record.read_for.isoformat()}, "
                f"not {as_of.isoformat()}"
            )
        observations: dict[str, list[ObservationFact]] = {}
        components: dict[str, list[tuple[ObservationFact, ObservationComponent]]] = {}
        lookup = index.names
        for fact in record.observations:  # newest first (record order)
            seen: set[str] = set()
            for code in fact.codes:
                for name in lookup(code):
                    if name not in seen:
                        seen.add(name)
                        observations.setdefault(name, []).append(fact)
            for component in fact.components:
                seen = set()
                for code in component.codes:
                    for name in lookup(code):
                        if name not in seen:
                            seen.add(name)
                            components.setdefault(name, []).append((fact, component))
        return cls(record, as_of, terminology, observations, components, trial, plan=plan or {})

    def for_trial(self, trial: str) -> Screening:
        """The same screening for another trial: buckets and caches are shared (they do
        not depend on the trial), only trial-scoped attestations see the new registry id."""
        if trial == self.trial:
            return self
        return Screening(
            self.record,
            self.as_of,
            self.terminology,
            self.observations,
            self.components,
            trial,
            self._conditions_cache,
            self._latest_cache,
            self.plan,
            self._outcomes,
        )

    def code_set(self, name: str) -> CodeSet:
        return self.terminology.code_set(name)

    def unavailable(self, resource_type: str) -> str | None:
        return self.record.unavailable.get(resource_type)

    def conditions(self, name: str) -> list[ConditionFact]:
        """Conditions in a code set, excluding refuted and entered-in-error ones."""
        cached = self._conditions_cache.get(name)
        if cached is None:
            code_set = self.code_set(name)
            cached = [
                c
                for c in self.record.conditions
                if c.verification_status not in EXCLUDED_VERIFICATION and code_set.matches(c.codes)
            ]
            self._conditions_cache[name] = cached
        return cached

    def refuted_conditions(self, name: str) -> list[ConditionFact]:
        code_set = self.code_set(name)
        return [
            c
            for c in self.record.conditions
            if c.verification_status in EXCLUDED_VERIFICATION and code_set.matches(c.codes)
        ]

    def latest(self, name: str, window: Window) -> Candidate:
        """Most recent counted Observation of code set `name` dated inside `window`."""
        key = (name, window.days)
        cached = self._latest_cache.get(key)
        if cached is None:
            cached = self._latest_cache[key] = self._search_latest(name, window)
        for item in cached.passed_over:
            if item not in self._passed_over:
                self._passed_over.append(item)
        return cached

    def remembered(
        self,
        key: tuple[int, int, str],
        evaluator: Evaluator,
        rule: object,
        window: Window,
    ) -> Outcome:
        """`evaluator(rule, self, window)`, once per screening and key (`plan`); a
        remembered outcome brings back the newer results its searches passed over."""
        found = self._outcomes.get(key)
        if found is None:
            outer, self._passed_over = self._passed_over, []
            try:
                outcome = evaluator(rule, self, window)
            finally:
                inner, self._passed_over = self._passed_over, outer
            found = self._outcomes[key] = (outcome, tuple(inner))
        outcome, passed_over = found
        for item in passed_over:
            if item not in self._passed_over:
                self._passed_over.append(item)
        return outcome

    def take_passed_over(self) -> list[tuple[ObservationFact, str]]:
        """Newer results (and why) the searches since the last call passed over."""
        found, self._passed_over = self._passed_over, []
        return found

    def latest_single(self, name: str, window: Window) -> Candidate:
        """`latest`, for rules that read the one newest result's value as it is (a code, a
        grade, a count): another result of that day and time with a different value makes
        the newest one unknown. Which of them is current cannot be told, and picking one
        would turn "MSS" and "MSI-H" of one sample into whichever came first."""
        candidate = self.latest(name, window)
        fact = candidate.fact
        if fact is None or fact.date is None:
            return candidate
        shown = _value_key(fact)
        rivals = [o for o in self.same_day(name, fact) if _value_key(o) != shown]
        if not rivals:
            return candidate
        refs = ", ".join(o.ref for o in (fact, *rivals))
        return Candidate(
            None,
            f"{1 + len(rivals)} results on {fact.date.isoformat()} disagree ({refs})",
            (fact, *rivals),
        )

    def same_day(self, name: str, fact: ObservationFact) -> list[ObservationFact]:
        """Other counted, usable Observations of code set `name` dated the same day as `fact`.

        Facts carry dates, not times, so none of them is "the most recent"; a rule that
        would decide them differently must say so rather than pick one.
        """
        return [
            other
            for other in self.observations.get(name, ())
            if other is not fact
            and other.date == fact.date
            # Two results of one day with different times of day are ordered (the record
            # is sorted newest first by time), so only untimed or same-time ones compete.
            and (other.time is None or fact.time is None or other.time == fact.time)
            and other.status in COUNTED_OBSERVATION_STATUSES
            and other.problem is None
            and other.value.data_absent_reason is None
            and not other.value.is_empty
        ]

    def _search_latest(self, name: str, window: Window) -> Candidate:
        if (why := self.unavailable("Observation")) is not None:
            return Candidate(None, f"Observations could not be retrieved ({why})")
        not_counted: ObservationFact | None = None
        passed_over: list[tuple[ObservationFact, str]] = []
        unreadable: ObservationFact | None = None  # a value that is there but cannot be read
        unusable: ObservationFact | None = None
        older: ObservationFact | None = None
        later: ObservationFact | None = None  # dated after the screening date
        for fact in self.observations.get(name, ()):
            if fact.date is None or fact.date > window.as_of:
                if fact.date is None and unusable is None:
                    unusable = fact
                elif fact.date is not None:
                    later = fact  # newest first: the last one seen is the nearest
                continue
            inside = window.contains(fact.date)
            if fact.status not in COUNTED_OBSERVATION_STATUSES:
                if inside:
                    not_counted = not_counted or fact
                    if fact.status not in VOID_OBSERVATION_STATUSES and not fact.value.is_empty:
                        status = fact.status
                        why = (
                            status if status == "preliminary" else f"status {status or 'not given'}"
                        )
                        passed_over.append((fact, why))
                continue
            if fact.problem is not None and fact.problem.startswith(IMPLAUSIBLE):
                if inside:
                    # The newest result is impossible (creatinine 0, ECOG -1): the current
                    # value is unknown, and an older result must not stand in for it.
                    return Candidate(
                        None, f"latest result {fact.ref} on {fact.date.isoformat()}: {fact.problem}"
                    )
                continue
            if fact.problem is not None:
                if inside:
                    unusable = unusable or fact
                    unreadable = unreadable or fact
                continue
            if fact.value.data_absent_reason is not None or (
                fact.value.is_empty and not fact.components
            ):
                # No value (the lab says why, or sends only a flag such as "L"): nothing to
                # read, so an older result decides, and this one is named beside it.
                if inside:
                    unusable = unusable or fact
                    passed_over.append((fact, _no_value(fact)))
                continue
            if not inside:
                older = older or fact
                continue
            if unreadable is not None and unreadable.date is not None:
                # A newer value that is there but cannot be read (a number sent as text
                # that is not one): the current value is unknown, as with an impossible
                # one, and an older result must not stand in for it.
                return Candidate(
                    None,
                    f"latest result {unreadable.ref} on {unreadable.date.isoformat()} cannot "
                    f"be read ({unreadable.problem}); the older {fact.ref} of "
                    f"{fact.date.isoformat()} does not stand in for it",
                )
            return Candidate(fact, passed_over=tuple(passed_over))
        parts = [f"no result in the last {window.days} days"]
        if older is not None and older.date is not None:
            age = (window.as_of - older.date).days
            parts.append(f"latest {older.date.isoformat()} ({older.ref}), {age} days old")
        if not_counted is not None and not_counted.date is not None:
            status = not_counted.status or "status-less"
            article = "an" if status[0] in "aeiou" else "a"
            parts.append(
                f"{article} {status} result on "
                f"{not_counted.date.isoformat()} ({not_counted.ref}) does not count"
            )
        if later is not None and later.date is not None:
            parts.append(
                f"{later.ref} of {later.date.isoformat()} is dated after the screening date "
                f"({window.as_of.isoformat()}) and does not count"
            )
        if unusable is not None:
            if unusable.problem:
                what = unusable.problem
            elif unusable.date is None:
                what = "no usable date"
            else:
                what = _no_value(unusable)
            parts.append(f"{unusable.ref} is unusable ({what})")
        return Candidate(None, "; ".join(parts))
