"""ICD-10-GM "Z" (Zustand nach, status post) on a Condition's coding: the condition was
there, and whether it still is, is not said. It must neither count as current disease nor
be ignored: every rule that needs a current condition says "unknown" and names the marker,
while a rule about history counts it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from fhir_mappings.conditions import parse_condition
from fhir_mappings.facts import Code, ConditionFact
from tests.unit.test_engine_rules import BONE as BONE_MET
from tests.unit.test_engine_rules import LESIONS, RECTAL_ADENO, diagnose, obs, oligo, record
from tests.unit.test_engine_rules import LIVER as LIVER_MET
from tests.unit.test_engine_rules import LUNG as LUNG_MET
from tests.unit.test_engine_rules import cond as plain_cond
from tests.unit.test_rules_generic import PROSTATE, SITES, malignancy, rec, run

GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
CERTAINTY = "http://fhir.de/StructureDefinition/icd-10-gm-diagnosesicherheit"


def gm_condition(code: str, marker: dict[str, Any] | None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": GM, "code": code}
    if marker is not None:
        coding["extension"] = [{"url": CERTAINTY, **marker}]
    return {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p"},
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                 "code": "active"}
            ]
        },
        "code": {"coding": [coding]},
        "onsetDateTime": "2026-01-10",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("marker", "status_post"),
    [
        ({"valueCoding": {"code": "Z"}}, True),
        ({"valueCode": "Z"}, True),
        ({"valueCoding": {"code": " z "}}, True),  # as some feeds write it
        ({"valueCoding": {"code": "G"}}, False),
        ({"valueCoding": {"code": "V"}}, False),
        (None, False),
    ],
)
def test_the_reader_marks_status_post(marker: dict[str, Any] | None, status_post: bool) -> None:
    fact = parse_condition(gm_condition("C20", marker))
    assert fact.status_post is status_post
    assert fact.clinical_status == "active"  # what the EHR said is kept as said


def test_status_post_is_not_suspected() -> None:
    fact = parse_condition(gm_condition("C20", {"valueCoding": {"code": "Z"}}))
    assert (fact.suspected, fact.verification_status) == (False, None)


def past(*codes: Code, **kw: Any) -> ConditionFact:
    return dataclasses.replace(plain_cond(*codes, **kw), status_post=True)


def test_a_diagnosis_only_status_post_asks_for_current_disease() -> None:
    only = diagnose(record(conditions=(past(RECTAL_ADENO),)))
    assert only.status == "unknown"
    assert "coded as status post (ICD-10-GM certainty Z); confirm current disease" in only.reason
    assert [e.note for e in only.evidence] == ["status post"]
    # A current diagnosis beside it decides.
    current = diagnose(record(conditions=(past(RECTAL_ADENO, days=400), plain_cond(RECTAL_ADENO))))
    assert current.status == "met"
    assert current.evidence[0].reference != only.evidence[0].reference


def test_an_active_only_condition_status_post_is_unknown_not_absent() -> None:
    ibd = {
        "type": "condition",
        "label": "Active IBD",
        "code_sets": ["inflammatory_bowel_disease_dx"],
        "active_only": True,
        "absence": "not_met",
    }
    crohn = ("http://hl7.org/fhir/sid/icd-10-cm", "K50.90")
    result = run(ibd, rec(conditions=(past(crohn),)))
    assert result.status == "unknown"
    assert "coded as status post (ICD-10-GM certainty Z)" in result.reason
    assert "whether it is still active is not recorded" in result.reason
    # Without the marker the same record is met, and resolved is not met: the marker alone
    # turned the answer into a question.
    assert run(ibd, rec(conditions=(plain_cond(crohn),))).status == "met"
    assert run(ibd, rec(conditions=(past(crohn, clinical="resolved"),))).status == "not_met"


def test_a_history_rule_counts_a_status_post_condition() -> None:
    # "Another malignancy in the last 5 years": a treated prostate cancer is exactly that.
    result = run(malignancy(), rec(conditions=(past(PROSTATE, days=400),)), lookback=1826)
    assert result.status == "met"


def test_a_status_post_metastasis_makes_the_site_count_unknown() -> None:
    liver = ("http://snomed.info/sct", "94381002")
    result = run(SITES, rec(conditions=(past(liver), plain_cond(liver))))
    assert result.status == "unknown"
    assert "status post" in result.reason
    assert "the count cannot be established" in result.reason


def test_a_status_post_metastasis_makes_oligometastatic_disease_unknown() -> None:
    two = (plain_cond(LIVER_MET, days=30), plain_cond(LUNG_MET, days=30))
    assert oligo(obs(LESIONS, integer=3), mets=two).status == "met"
    resected = (*two, past(BONE_MET, days=30))
    result = oligo(obs(LESIONS, integer=3), mets=resected)
    assert result.status == "unknown"
    assert "is coded as status post (ICD-10-GM certainty Z)" in result.reason
    assert "the number of sites cannot be established" in result.reason
