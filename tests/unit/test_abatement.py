"""A Condition with abatement[x] whose clinicalStatus does not say it is over (active, or
none at all: FHIR requires inactive, resolved or remission then, and not every EHR keeps
to it). The condition may be gone: rules that need current disease are unknown and name
the abatement, a rule about history still counts it, and an abatement under a status that
says the condition is over changes nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from fhir_mappings.conditions import parse_condition
from fhir_mappings.facts import Code, ConditionFact
from tests.unit.test_engine_rules import LESIONS, RECTAL_ADENO, diagnose, obs, oligo, record
from tests.unit.test_engine_rules import LIVER as LIVER_MET
from tests.unit.test_engine_rules import LUNG as LUNG_MET
from tests.unit.test_engine_rules import cond as plain_cond
from tests.unit.test_rules_generic import PROSTATE, SITES, malignancy, rec, run
from tests.unit.test_uncoded_records import IBD

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CROHN = ("http://hl7.org/fhir/sid/icd-10-cm", "K50.90")


def condition(status: str | None, **abatement: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254582000"}]},
        "onsetDateTime": "2025-06-10",
        **abatement,
    }
    if status is not None:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": status}]}
    return resource


@pytest.mark.parametrize(
    ("abatement", "read"),
    [
        ({"abatementDateTime": "2026-01-15"}, "2026-01-15"),
        ({"abatementString": "after surgery"}, "after surgery"),
        ({"abatementBoolean": True}, "yes"),
        ({"abatementBoolean": False}, None),
        ({"abatementPeriod": {"start": "2026-01-02", "end": "2026-01-20"}},
         "2026-01-02 to 2026-01-20"),
        ({"abatementPeriod": {"end": "2026-01-20"}}, "? to 2026-01-20"),
        ({"abatementPeriod": {"start": "2026-01-02"}}, "2026-01-02 to ?"),
        ({"abatementPeriod": {}}, "a period"),
        ({"abatementAge": {"value": 61, "unit": "a"}}, "age 61 a"),
        ({"abatementAge": {"value": 61, "code": "a"}}, "age 61 a"),
        ({"abatementAge": {"value": 61}}, "age 61"),
        ({"abatementAge": {"unit": "a"}}, "age ? a"),
        ({"abatementRange": {"low": {"value": 60}}}, "an age range"),
        ({"abatementDateTime": 20260115}, "20260115"),
        ({"abatementDateTime": " "}, "' '"),
        ({"abatementBoolean": "true"}, "'true'"),
        ({}, None),
    ],
)  # fmt: skip
def test_the_reader_keeps_the_abatement_in_words(
    abatement: dict[str, Any], read: str | None
) -> None:
    assert parse_condition(condition("active", **abatement)).abated == read
    assert parse_condition(condition(None, **abatement)).abated == read


@pytest.mark.parametrize("status", ["inactive", "resolved", "remission"])
def test_an_abatement_agreeing_with_an_ended_status_is_not_kept(status: str) -> None:
    fact = parse_condition(condition(status, abatementDateTime="2026-01-15"))
    assert (fact.clinical_status, fact.abated) == (status, None)


@pytest.mark.parametrize("status", ["active", "recurrence", "relapse"])
def test_an_abatement_under_a_current_status_is_kept(status: str) -> None:
    fact = parse_condition(condition(status, abatementDateTime="2026-01-15"))
    assert (fact.clinical_status, fact.abated) == (status, "2026-01-15")


def abated(*codes: Code, when: str = "2026-01-15", **kw: Any) -> ConditionFact:
    return dataclasses.replace(plain_cond(*codes, **kw), abated=when)


def test_a_diagnosis_only_abated_asks_for_current_disease() -> None:
    only = diagnose(record(conditions=(abated(RECTAL_ADENO),)))
    assert only.status == "unknown"
    assert only.reason.endswith("is marked active but abated (2026-01-15); confirm current disease")
    assert [e.note for e in only.evidence] == ["abated"]
    untold = diagnose(record(conditions=(abated(RECTAL_ADENO, clinical=None),)))
    assert untold.status == "unknown"
    assert "is without a clinical status but abated (2026-01-15)" in untold.reason
    # A current diagnosis beside it decides.
    both = (abated(RECTAL_ADENO, days=400), plain_cond(RECTAL_ADENO))
    assert diagnose(record(conditions=both)).status == "met"


def test_an_active_only_condition_abated_is_unknown_not_present() -> None:
    result = run(IBD, rec(conditions=(abated(CROHN),)))
    assert result.status == "unknown"
    assert result.reason == (
        f"Active IBD: {result.evidence[0].reference} is marked active but abated (2026-01-15): "
        "whether it is "
        "still active is not recorded"
    )
    assert [e.note for e in result.evidence] == ["abated"]
    assert run(IBD, rec(conditions=(plain_cond(CROHN),))).status == "met"


def test_a_history_rule_counts_an_abated_condition() -> None:
    result = run(malignancy(), rec(conditions=(abated(PROSTATE, days=400),)), lookback=1826)
    assert result.status == "met"


def test_an_abated_metastasis_makes_the_site_count_and_oligometastases_unknown() -> None:
    liver = ("http://snomed.info/sct", "94381002")
    count = run(SITES, rec(conditions=(abated(liver), plain_cond(liver))))
    assert count.status == "unknown"
    assert "abated (2026-01-15): the count cannot be established" in count.reason
    two = (plain_cond(LIVER_MET, days=30), plain_cond(LUNG_MET, days=30))
    assert oligo(obs(LESIONS, integer=3), mets=two).status == "met"
    result = oligo(obs(LESIONS, integer=3), mets=(*two[:1], abated(LUNG_MET, days=30)))
    assert result.status == "unknown"
    assert "is marked active but abated (2026-01-15): the number of sites" in result.reason
