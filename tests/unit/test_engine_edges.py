"""The engine around the rules: the safety net's exact reasons (met without dated evidence,
an exclusion cleared by nothing), an evaluator's crash named in the log and the reason,
each criterion's own lookback window, the trials asked for (order, unknown ids), the
checks made at start-up, and what a trial result carries besides its criteria."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, timedelta
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.eligibility import rules as rules_module
from cds_hooks.eligibility.context import Screening, Window
from cds_hooks.eligibility.results import Evidence
from cds_hooks.eligibility.rules import Outcome
from cds_hooks.trials import TrialDefinitionError
from cds_hooks.trials.loader import parse_trial
from cds_hooks.trials.model import TrialDefinition
from cds_hooks.trials.params import RuleParams
from tests.unit.test_engine_rules import ANC, ANC_RULE, AS_OF, TERMINOLOGY, obs, record

AGE = {"type": "age_range", "label": "Age", "min": 18, "max": 75}


def definition(
    *criteria: tuple[str, str, dict[str, Any], int | None], trial: str = "t", registry: str = "NCT9"
) -> TrialDefinition:
    """A trial of (id, role, rule, lookback days or None for the trial's 28) criteria."""
    raw: dict[str, Any] = {
        "id": trial,
        "title": trial,
        "short_title": trial,
        "summary": "test",
        "registry": {"id": registry, "url": "https://example.org", "status": "not_yet_recruiting"},
        "target_condition": {"code_sets": ["rectal_cancer_dx"]},
        "treatment_orders": {"code_sets": []},
        "lookback_days": 28,
        "criteria": [
            {
                "id": cid,
                "title": cid,
                "role": role,
                "kind": "data",
                "rule": rule,
                **({"lookback_days": days} if days is not None else {}),
            }
            for cid, role, rule, days in criteria
        ],
    }
    return parse_trial(raw, "test")


def replaced_age_rule(monkeypatch: pytest.MonkeyPatch, outcome: Outcome | Exception) -> None:
    """Every age_range criterion returns `outcome` (an Outcome, or an exception to raise)."""

    def evaluator(_params: RuleParams, _s: Screening, _w: Window) -> Outcome:
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setitem(rules_module.EVALUATORS, "age_range", evaluator)


DATED = Evidence("Observation/x", 1, None, "2026-03-01")
UNDATED = Evidence("Observation/x", 1, None, None)


# --------------------------------------------------------------------------- safety net
@pytest.mark.parametrize("role", ["inclusion", "exclusion"])
def test_met_without_dated_evidence_is_unknown_and_says_so(
    monkeypatch: pytest.MonkeyPatch, role: str
) -> None:
    replaced_age_rule(monkeypatch, Outcome("met", "Age 60", (UNDATED,)))
    engine = Engine([definition(("c", role, AGE, None))], TERMINOLOGY)
    result = engine.screen(record(), AS_OF).trials[0].criteria[0]
    assert (result.status, result.reason) == ("unknown", "Age 60 (no dated evidence)")
    assert result.evidence == (UNDATED,)
    assert result.role == role


def test_met_with_dated_evidence_is_kept() -> None:
    # The real rule: met with the birth date as dated evidence.
    engine = Engine([definition(("c", "exclusion", AGE, None))], TERMINOLOGY)
    result = engine.screen(record(), AS_OF).trials[0].criteria[0]
    assert result.status == "met"
    assert result.evidence[0].date is not None


def test_an_exclusion_cleared_by_nothing_is_unknown_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replaced_age_rule(monkeypatch, Outcome("not_met", "No such condition"))
    engine = Engine(
        [definition(("exc", "exclusion", AGE, None), ("inc", "inclusion", AGE, None))],
        TERMINOLOGY,
    )
    exc, inc = engine.screen(record(), AS_OF).trials[0].criteria
    assert (exc.status, exc.reason) == (
        "unknown",
        "No such condition (nothing on record clears it)",
    )
    assert exc.evidence == ()
    # An inclusion not met excludes the patient: it claims no clearance and stays not_met.
    assert (inc.status, inc.reason) == ("not_met", "No such condition")


def test_an_exclusion_cleared_with_evidence_stays_not_met(monkeypatch: pytest.MonkeyPatch) -> None:
    replaced_age_rule(monkeypatch, Outcome("not_met", "none", (DATED,)))
    engine = Engine([definition(("exc", "exclusion", AGE, None))], TERMINOLOGY)
    result = engine.screen(record(), AS_OF).trials[0]
    assert (result.criteria[0].status, result.criteria[0].reason) == ("not_met", "none")
    assert result.status == "likely_eligible"


def test_a_crash_is_unknown_logged_with_its_criterion_and_trial(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    replaced_age_rule(monkeypatch, RuntimeError("bug"))
    engine = Engine([definition(("crashes", "exclusion", AGE, None), trial="crashy")], TERMINOLOGY)
    with caplog.at_level(logging.ERROR, logger="cds_hooks.eligibility.engine"):
        trial = engine.screen(record(), AS_OF).trials[0]
    (result,) = trial.criteria
    assert (result.id, result.status, result.role) == ("crashes", "unknown", "exclusion")
    assert result.reason == "could not be evaluated (internal error)"
    assert result.evidence == ()
    assert trial.status == "possibly_eligible"
    (logged,) = [r for r in caplog.records if r.name == "cds_hooks.eligibility.engine"]
    assert logged.getMessage() == "criterion crashes of crashy failed"
    assert logged.exc_info is not None


# --------------------------------------------------------------------------- windows
def test_each_criterion_looks_back_over_its_own_days() -> None:
    # One ANC 20 days old: inside 28 days, outside 14; the 28-day window is asked twice.
    engine = Engine(
        [
            definition(
                ("default", "inclusion", ANC_RULE, None),
                ("short", "inclusion", ANC_RULE, 14),
                ("again", "inclusion", ANC_RULE, 28),
                ("long", "inclusion", ANC_RULE, 60),
            )
        ],
        TERMINOLOGY,
    )
    rec = record(obs(ANC, q=2.0, unit="10*9/L", days=20))
    statuses = {c.id: c.status for c in engine.screen(rec, AS_OF).trials[0].criteria}
    assert statuses == {"default": "met", "short": "unknown", "again": "met", "long": "met"}


def test_the_window_is_counted_back_from_the_screening_day() -> None:
    engine = Engine([definition(("c", "inclusion", ANC_RULE, 7))], TERMINOLOGY)
    rec = record(obs(ANC, q=2.0, unit="10*9/L", days=7))  # 2026-02-23

    def status(as_of: date) -> str:
        return engine.screen(rec, as_of).trials[0].criteria[0].status

    assert status(AS_OF) == "met"  # 7 days old: the window's first day
    assert status(AS_OF + timedelta(days=1)) == "unknown"  # 8 days old
    assert status(date(2026, 2, 23)) == "met"  # the screening day itself
    assert status(date(2026, 2, 22)) == "unknown"  # not yet taken


# --------------------------------------------------------------------------- trials asked for
def engine_of_three() -> Engine:
    return Engine(
        [
            definition(("a", "inclusion", AGE, None), trial="one", registry="NCT1"),
            definition(("a", "inclusion", ANC_RULE, None), trial="two", registry="NCT2"),
            definition(("a", "exclusion", AGE, None), trial="three", registry="NCT3"),
        ],
        TERMINOLOGY,
    )


def test_trials_are_screened_in_the_order_asked() -> None:
    engine = engine_of_three()
    rec = record(obs(ANC, q=2.0, unit="10*9/L"))
    assert [t.trial for t in engine.screen(rec, AS_OF).trials] == ["one", "two", "three"]
    asked = engine.screen(rec, AS_OF, ["three", "one"])
    assert [(t.trial, t.registry) for t in asked.trials] == [("three", "NCT3"), ("one", "NCT1")]
    assert [t.status for t in asked.trials] == ["not_eligible", "likely_eligible"]
    assert engine.screen(rec, AS_OF, []).trials == ()
    assert (asked.patient, asked.as_of) == ("Patient/p", AS_OF)


def test_an_unknown_trial_is_named() -> None:
    engine = engine_of_three()
    with pytest.raises(KeyError) as caught:
        engine.screen(record(), AS_OF, ["one", "nope", "nada"])
    assert caught.value.args == ("unknown trial 'nope'",)


def test_a_trial_result_carries_its_registry_and_recruitment_status() -> None:
    engine = Engine([definition(("a", "inclusion", AGE, None), registry="NCT7")], TERMINOLOGY)
    result = engine.screen(record(), AS_OF).trials[0]
    assert (result.registry, result.recruitment_status, result.complete) == (
        "NCT7",
        "not_yet_recruiting",
        True,
    )


def test_until_excluded_stops_after_the_first_excluding_criterion() -> None:
    too_old = {**AGE, "max": 40}
    engine = Engine(
        [
            definition(
                ("adult", "inclusion", AGE, None),
                ("young", "inclusion", too_old, None),
                ("after", "inclusion", AGE, None),
            )
        ],
        TERMINOLOGY,
    )
    full = engine.screen(record(), AS_OF).trials[0]
    short = engine.screen(record(), AS_OF, until_excluded=True).trials[0]
    assert [c.id for c in full.criteria] == ["adult", "young", "after"]
    assert [c.id for c in short.criteria] == ["adult", "young"]
    assert (short.status, short.complete) == (full.status, False) == ("not_eligible", False)
    # Nothing excludes: every criterion is screened and the result is complete.
    eligible = engine.screen(record(birth=date(1990, 1, 1)), AS_OF, until_excluded=True)
    assert [c.id for c in eligible.trials[0].criteria] == ["adult", "young", "after"]
    assert eligible.trials[0].complete


# --------------------------------------------------------------------------- start-up checks
def test_a_criterion_without_a_typed_rule_fails_at_start_up() -> None:
    trial = definition(("a", "inclusion", AGE, None), trial="untyped")
    untyped = dataclasses.replace(trial.criteria[0], params=None)
    broken = dataclasses.replace(trial, criteria=(untyped,))
    with pytest.raises(TrialDefinitionError) as caught:
        Engine([broken], TERMINOLOGY)
    assert str(caught.value) == "trial untyped: criterion a: no rule"


def test_a_rule_type_without_an_evaluator_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(rules_module.EVALUATORS, "age_range")
    with pytest.raises(TrialDefinitionError) as caught:
        Engine([definition(("a", "inclusion", AGE, None), trial="typeless")], TERMINOLOGY)
    assert str(caught.value) == "trial typeless: criterion a: unknown rule type 'age_range'"


def test_unknown_code_sets_are_all_named_sorted() -> None:
    trial = definition(("a", "inclusion", {**ANC_RULE, "code_set": "zz_typo"}, None), trial="sets")
    trial = dataclasses.replace(trial, target_code_sets=("aa_typo", "rectal_cancer_dx"))
    with pytest.raises(TrialDefinitionError) as caught:
        Engine([trial], TERMINOLOGY)
    assert str(caught.value) == "trial sets: unknown code sets ['aa_typo', 'zz_typo']"


def test_the_observations_read_are_those_of_every_trials_code_sets() -> None:
    engine = engine_of_three()
    selection = engine.observations_read
    assert ANC in selection.codes
    assert (ANC[0], "718-7") not in selection.codes  # haemoglobin: no trial here reads it
    assert selection.prefixed == ()


def test_one_trial_screened_alone_reads_the_terminology_like_a_full_screening() -> None:
    # Screened alone, the trial builds its own screening: lab rules need the code sets
    # (units, limits) from it.
    trial = definition(("anc", "inclusion", ANC_RULE, None), ("age", "inclusion", AGE, None))
    engine = Engine([trial], TERMINOLOGY)
    rec = record(obs(ANC, q=2.0, unit="10*9/L"))
    alone = engine.screen_trial(trial, rec, AS_OF)
    assert [c.status for c in alone.criteria] == ["met", "met"]
    assert alone == engine.screen(rec, AS_OF).trials[0]
