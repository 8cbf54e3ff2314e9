"""A Condition or Procedure with no readable code (free text only, or a code without a
system) could be exactly what a rule looks for. No rule may conclude from the record's
silence while one is on record: the answer is unknown and names it. A coded match still
decides, and an uncoded record the rule could never count (refuted, inactive for an
active-only rule, dated outside the window) changes nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

from cds_hooks.eligibility import Engine
from cds_hooks.screening import record_from
from fhir_mappings.conditions import parse_condition
from fhir_mappings.facts import ConditionFact, ProcedureFact
from tests.unit.test_engine_rules import AS_OF, LESIONS, cond, day, obs, oligo
from tests.unit.test_engine_rules import LIVER as LIVER_MET
from tests.unit.test_engine_rules import LUNG as LUNG_MET
from tests.unit.test_engine_rules import SITES as SITE_COUNT
from tests.unit.test_rules_generic import (
    PROSTATE,
    RADIOTHERAPY,
    SITES,
    malignancy,
    procedure,
    rec,
    run,
)


def uncoded(text: str | None = "Prostatakarzinom", **kw: Any) -> ConditionFact:
    return dataclasses.replace(cond(**kw), display=text)


IBD = {
    "type": "condition",
    "label": "Active IBD",
    "code_sets": ["inflammatory_bowel_disease_dx"],
    "active_only": True,
    "absence": "not_met",
}
MI = {
    "type": "condition",
    "label": "MI in 6 months",
    "code_sets": ["myocardial_infarction_dx"],
    "active_only": False,
    "within_days": 183,
    "absence": "not_met",
}


def test_an_uncoded_condition_keeps_an_absence_exclusion_open() -> None:
    result = run(malignancy(), rec(conditions=(uncoded(),)), lookback=1826, role="exclusion")
    assert result.status == "unknown"
    assert result.reason == (
        f"Other malignancy: {result.evidence[0].reference} has no readable code "
        "(Prostatakarzinom); it may be the condition looked for"
    )
    assert result.evidence[0].note == "no readable code"
    nameless = run(malignancy(), rec(conditions=(uncoded(None),)), lookback=1826)
    assert "(no text)" in nameless.reason


def test_a_coded_match_still_decides() -> None:
    both = rec(conditions=(uncoded(), cond(PROSTATE, days=400)))
    assert run(malignancy(), both, lookback=1826).status == "met"


def test_uncoded_records_the_rule_could_never_count_change_nothing() -> None:
    refuted = rec(conditions=(uncoded(verification="refuted"),))
    assert run(malignancy(), refuted, lookback=1826).status == "not_met"
    resolved = rec(conditions=(uncoded("Morbus Crohn", clinical="resolved"),))
    assert run(IBD, resolved).status == "not_met"
    assert run(IBD, rec(conditions=(uncoded("Morbus Crohn"),))).status == "unknown"
    # Outside the rule's own 183-day window: it cannot be the recent infarction.
    old = rec(conditions=(uncoded("Herzinfarkt", days=300),))
    assert run(MI, old, lookback=36500).status == "not_met"
    recent = rec(conditions=(uncoded("Herzinfarkt", days=100),))
    assert run(MI, recent, lookback=36500).status == "unknown"
    undated = rec(conditions=(uncoded("Herzinfarkt", days=None),))
    assert run(MI, undated, lookback=36500).status == "unknown"


def test_an_uncoded_condition_makes_a_site_count_unknown() -> None:
    liver = ("http://snomed.info/sct", "94381002")
    counted = rec(conditions=(cond(liver),))
    assert run(SITES, counted).status == "met"
    result = run(SITES, rec(conditions=(cond(liver), uncoded("Lebermetastasen"))))
    assert result.status == "unknown"
    assert "it may be one more to count" in result.reason


def test_oligometastases_from_coded_sites_wait_for_an_uncoded_diagnosis() -> None:
    two = (cond(LIVER_MET, days=30), cond(LUNG_MET, days=30))
    assert oligo(obs(LESIONS, integer=3), mets=two).status == "met"
    result = oligo(obs(LESIONS, integer=3), mets=(*two, uncoded("Knochenmetastase", days=30)))
    assert result.status == "unknown"
    assert "it may be another metastatic site" in result.reason
    # An imaging summary that counts the sites itself is not waiting for a diagnosis.
    counted = oligo(
        obs(SITE_COUNT, integer=2),
        obs(LESIONS, integer=3),
        mets=(*two, uncoded("Knochenmetastase", days=30)),
    )
    assert counted.status == "met"
    # Too many coded sites stay not met whatever the uncoded one is.
    three = (*two, cond(("http://hl7.org/fhir/sid/icd-10-cm", "C79.51"), days=30))
    assert oligo(obs(LESIONS, integer=3), mets=(*three, uncoded(days=30))).status == "not_met"


def test_an_uncoded_procedure_keeps_a_prior_treatment_exclusion_open() -> None:
    text_only = ProcedureFact("Procedure/t", frozenset(), "completed", day(200), display="RCT")
    result = run(RADIOTHERAPY, rec(procedures=(text_only,)), lookback=36500)
    assert result.status == "unknown"
    assert result.reason == ("Prior radiotherapy: Procedure/t has no readable procedure code (RCT)")
    # Not done, it changes nothing; a coded one still decides.
    not_done = dataclasses.replace(text_only, status="not-done")
    assert run(RADIOTHERAPY, rec(procedures=(not_done,)), lookback=36500).status == "not_met"
    both = rec(procedures=(text_only, procedure()))
    assert run(RADIOTHERAPY, both, lookback=36500).status == "met"


def test_from_fhir_a_text_only_problem_list_entry_is_not_silence() -> None:
    # As EHRs send a free-text problem: code.text only; and a coding without a system.
    text_only = {"text": "Morbus Crohn"}
    no_system = {"coding": [{"code": "K50.9"}], "text": "Crohn"}
    for code in (text_only, no_system):
        fact = parse_condition(
            {
                "resourceType": "Condition",
                "id": "x",
                "code": code,
                "subject": {"reference": "Patient/p"},
            }
        )
        assert fact.codes == frozenset()
        patient = {"resourceType": "Patient", "id": "p", "birthDate": "1960-05-01"}
        condition = {
            "resourceType": "Condition",
            "id": "x",
            "subject": {"reference": "Patient/p"},
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "code": code,
            "recordedDate": "2026-01-05",
        }
        record = record_from([patient, condition])
        results = [c for t in Engine.default().screen(record, AS_OF).trials for c in t.criteria]
        cited = [c for c in results if "Condition/x" in {e.reference for e in c.evidence}]
        assert cited
        assert all(c.status == "unknown" for c in cited)
        assert all("no readable code (" in c.reason for c in cited)
        # No criterion anywhere concluded from the Conditions' silence.
        assert not [c.id for c in results if "condition reviewed" in c.reason]
        assert not [c.id for c in results if "conditions reviewed" in c.reason]
