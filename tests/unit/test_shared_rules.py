"""Rules planned at load and evaluated once per screening: structurally equal rules share a
key whichever trial or criterion holds them, each criterion holding one reads the same
outcome (with the newer results its searches passed over), and a rule that reads the
trial being screened (a trial-scoped consent) is never shared between trials."""

from __future__ import annotations

from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.eligibility.context import CodeIndex, Screening, Window
from cds_hooks.eligibility.rules import EVALUATORS, Outcome
from cds_hooks.eligibility.rules.registry import evaluate, plan
from cds_hooks.trials.loader import parse_trial
from cds_hooks.trials.params import RuleParams, parse_rule
from fhir_mappings.facts import ObservationFact, ObservationValue
from fhir_mappings.record import build_record
from fixtures import generate as g
from tests.unit.test_context_edges import PATIENT, anc, preliminary
from tests.unit.test_engine_rules import ANC_RULE, AS_OF, TERMINOLOGY

CONSENT = {
    "type": "attestation",
    "label": "Trial informed consent",
    "code_set": "consent_signed",
    "scope": "trial",
    "study_component": "research_study",
}
HB_RULE = {**ANC_RULE, "label": "Hb", "code_set": "hemoglobin", "value": 9, "unit": "g/dL"}


def trial(registry: str, *criteria: tuple[str, dict[str, Any]]) -> Any:
    raw = {
        "id": registry.lower(),
        "title": registry,
        "short_title": registry,
        "summary": "test",
        "registry": {"id": registry, "url": "https://example.org", "status": "recruiting"},
        "target_condition": {"code_sets": ["rectal_cancer_dx"]},
        "treatment_orders": {"code_sets": []},
        "lookback_days": 28,
        "criteria": [
            {"id": cid, "title": cid, "role": "inclusion", "kind": "data", "rule": rule}
            for cid, rule in criteria
        ],
    }
    return parse_trial(raw, "test")


def counting(monkeypatch: pytest.MonkeyPatch, rule_type: str) -> list[RuleParams]:
    """Every call of `rule_type`'s evaluator, with its parameters (patched before an engine
    plans its trials, which is when evaluators are looked up)."""
    calls: list[RuleParams] = []
    real = EVALUATORS[rule_type]

    def spy(p: RuleParams, s: Screening, window: Window) -> Outcome:
        calls.append(p)
        return real(p, s, window)

    monkeypatch.setitem(EVALUATORS, rule_type, spy)
    return calls


def test_equal_rules_share_a_key_and_other_rules_do_not() -> None:
    first = parse_rule({"type": "all_of", "rules": [ANC_RULE, HB_RULE]})
    second = parse_rule({"type": "any_of", "rules": [HB_RULE, {**ANC_RULE, "value": 2}]})
    planned = plan([first, second])
    assert len(planned) == 6  # every node of both trees
    key = {id(node): planned[id(node)].key for node in (*first.walk(), *second.walk())}
    anc_1, hb_1 = first.children()
    hb_2, anc_2 = second.children()
    assert key[id(hb_1)] == key[id(hb_2)]
    assert (
        len({key[id(first)], key[id(second)], key[id(anc_1)], key[id(anc_2)], key[id(hb_1)]}) == 5
    )
    assert all(planned[id(n)].rule is n for n in (*first.walk(), *second.walk()))
    assert planned[id(hb_1)].evaluator is EVALUATORS["lab_threshold"]
    assert planned[id(first)].evaluator is EVALUATORS["all_of"]


def test_a_rule_is_per_trial_when_it_or_a_part_of_it_reads_the_trial() -> None:
    scoped = parse_rule({"type": "all_of", "rules": [ANC_RULE, CONSENT]})
    anywhere = parse_rule({**CONSENT, "scope": "any"})
    planned = plan([scoped, anywhere])
    anc_rule, consent = scoped.children()
    assert planned[id(scoped)].per_trial
    assert planned[id(consent)].per_trial
    assert not planned[id(anc_rule)].per_trial
    assert not planned[id(anywhere)].per_trial


def test_a_rule_several_trials_and_criteria_hold_is_evaluated_once_per_screening(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = counting(monkeypatch, "lab_threshold")
    both = {"type": "all_of", "rules": [ANC_RULE, HB_RULE]}
    engine = Engine(
        [
            trial("NCT1", ("anc", ANC_RULE), ("both", both)),
            trial("NCT2", ("anc", ANC_RULE), ("anc2", {**ANC_RULE, "value": 2})),
        ],
        TERMINOLOGY,
    )
    record = build_record([PATIENT, anc("f", 3.2, "2026-02-20")])
    one, two = engine.screen(record, AS_OF).trials
    # ANC ≥ 1.5 (three criteria in two trials), Hb ≥ 9, ANC ≥ 2: three distinct rules.
    assert sorted((p.as_raw()["label"], p.as_raw()["value"]) for p in calls) == [
        ("ANC", 1.5),
        ("ANC", 2.0),
        ("Hb", 9.0),
    ]
    assert one.criteria[0] == two.criteria[0]  # the same outcome, read twice
    assert (one.criteria[0].status, two.criteria[1].status) == ("met", "met")
    assert one.criteria[1].status == "unknown"  # no haemoglobin on record
    # Outcomes live for one screening: the next patient's are evaluated afresh.
    engine.screen(record, AS_OF)
    assert len(calls) == 6


def test_every_criterion_sharing_a_rule_names_the_newer_result_it_passed_over() -> None:
    engine = Engine(
        [
            trial("NCT1", ("anc", ANC_RULE), ("either", {"type": "any_of", "rules": [ANC_RULE]})),
            trial("NCT2", ("anc", ANC_RULE)),
        ],
        TERMINOLOGY,
    )
    record = build_record(
        [PATIENT, preliminary("p", 0.5, "2026-02-28"), anc("f", 3.2, "2026-02-20")]
    )
    one, two = engine.screen(record, AS_OF).trials
    for criterion in (*one.criteria, *two.criteria):
        assert criterion.status == "met"
        assert criterion.reason.endswith(
            "newer result that did not count: Observation/p on 2026-02-28 (preliminary)"
        )
        assert [(e.reference, e.note) for e in criterion.evidence] == [
            ("Observation/f", None),
            ("Observation/p", "preliminary, not counted"),
        ]


def test_a_trial_scoped_consent_is_decided_for_each_trial_of_one_screening() -> None:
    # Three packaged trials hold the same consent rule; it names the trial screened.
    p = g.base("p")
    p.consent(3, True, registry="NCT06462053")
    result = Engine.default().screen(build_record(p.resources), AS_OF)
    consent = {t.trial: t.criterion("informed_consent").status for t in result.trials}
    assert consent["torch-e2"] == "met"
    assert consent["scrt-capeox-serplulimab-rectal"] == "unknown"
    assert consent["rapido"] == "unknown"


def screening_with(planned: dict[int, Any]) -> Screening:
    record = build_record([PATIENT])
    return Screening.build(
        record, AS_OF, TERMINOLOGY, CodeIndex.build(TERMINOLOGY, []), plan=planned
    )


def fact(ref: str) -> ObservationFact:
    return ObservationFact(ref, frozenset(), "preliminary", AS_OF, ObservationValue())


PASSED = (fact("Observation/p"), "preliminary")
EARLIER = (fact("Observation/e"), "no value")


def test_a_remembered_outcome_brings_back_what_its_searches_passed_over() -> None:
    s = screening_with({})
    calls = []

    def evaluator(rule: object, screening: Screening, window: Window) -> Outcome:
        calls.append(rule)
        screening._passed_over.append(PASSED)
        return Outcome("met", "found")

    window = Window(AS_OF, 28)
    s._passed_over.append(EARLIER)
    first = s.remembered((1, 28, ""), evaluator, "rule", window)
    assert s.take_passed_over() == [EARLIER, PASSED]
    again = s.remembered((1, 28, ""), evaluator, "rule", window)
    assert again is first
    assert calls == ["rule"]
    assert s.take_passed_over() == [PASSED]
    # Another window is another key.
    s.remembered((1, 90, ""), evaluator, "rule", Window(AS_OF, 90))
    assert len(calls) == 2


def test_a_failing_evaluator_leaves_the_criterions_passed_over_results_as_they_were() -> None:
    s = screening_with({})

    def evaluator(rule: object, screening: Screening, window: Window) -> Outcome:
        screening._passed_over.append(PASSED)
        raise RuntimeError("bug")

    s._passed_over.append(EARLIER)
    with pytest.raises(RuntimeError):
        s.remembered((1, 28, ""), evaluator, "rule", Window(AS_OF, 28))
    assert s.take_passed_over() == [EARLIER]
    assert s._outcomes == {}


def test_evaluate_remembers_only_the_rules_the_plan_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting(monkeypatch, "lab_threshold")
    held, twin, once = (parse_rule(r) for r in (ANC_RULE, ANC_RULE, HB_RULE))
    planned = plan([held, twin, once])
    assert (planned[id(held)].shared, planned[id(twin)].shared) == (True, True)
    assert not planned[id(once)].shared
    s = screening_with(planned)
    window = Window(AS_OF, 28)
    assert evaluate(held, s, window) is evaluate(twin, s, window)
    assert len(calls) == 1
    # A rule held once has nothing to share: evaluated straight away, each time.
    evaluate(once, s, window)
    evaluate(once, s, window)
    assert len(calls) == 3
    # An equal rule the plan does not hold (a definition loaded elsewhere), or a mapping:
    # evaluated each time, never mistaken for the planned one.
    other = parse_rule(ANC_RULE)
    evaluate(other, s, window)
    evaluate(ANC_RULE, s, window)
    assert len(calls) == 5
