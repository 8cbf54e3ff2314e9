"""A record coded only in systems a criterion's code sets do not name (an EHR's local codes,
a national drug catalogue, SNOMED CT where the set knows only RxNorm and ATC) cannot be
told to be in the set or not: like a text-only record, it keeps absence-based rules open.
ICD-10-GM codes are read by the WHO ICD-10 entries of every set."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.facts import ProcedureFact
from fhir_mappings.terminology import load_terminology
from tests.unit.test_engine_rules import ANTICOAG, cond, day, med, record
from tests.unit.test_engine_rules import run as run_28
from tests.unit.test_rules_generic import ALLERGY, RADIOTHERAPY, allergy, malignancy, rec, run

TERMS = load_terminology()
EPIC_ERX = "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288"
EPIC_PROBLEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.696784"
DMD = "http://snomed.info/sct"  # UK dm+d products are SNOMED CT concepts
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
GM_OLD = "http://fhir.de/CodeSystem/dimdi/icd-10-gm"
IBD: dict[str, Any] = {
    "type": "condition",
    "label": "Active IBD",
    "code_sets": ["inflammatory_bowel_disease_dx"],
    "active_only": True,
    "absence": "not_met",
}


@pytest.mark.parametrize("system", [GM, GM_OLD])
def test_icd10_gm_codes_match_the_who_entries(system: str) -> None:
    assert run(IBD, rec(conditions=(cond((system, "K50.9")),))).status == "met"
    prostate = rec(conditions=(cond((system, "C61"), days=400),))
    assert run(malignancy(), prostate, lookback=1826).status == "met"
    # A code the set does not hold stays not matched, and is readable: silence decides.
    asthma = rec(conditions=(cond((system, "J45.9")),))
    assert run(IBD, asthma).status == "not_met"


def test_a_set_keeps_its_own_gm_entries() -> None:
    # secondary_malignancy_dx lists GM codes with their own site groups.
    sets = TERMS.code_set("secondary_malignancy_dx")
    assert sets.group_of((GM, "C78.7")) == "liver"


def test_a_condition_coded_only_locally_keeps_an_exclusion_open() -> None:
    local = cond((EPIC_PROBLEM, "12345"))
    result = run(IBD, rec(conditions=(local,)))
    assert result.status == "unknown"
    assert f"is coded only in {EPIC_PROBLEM}, which the criterion cannot read" in result.reason
    # With a standard code beside the local one, it is readable (and here not IBD).
    both = cond((EPIC_PROBLEM, "12345"), ("http://hl7.org/fhir/sid/icd-10-cm", "J45.909"))
    assert run(IBD, rec(conditions=(both,))).status == "not_met"


@pytest.mark.parametrize(
    "code",
    [(EPIC_ERX, "22455"), (DMD, "39719211000001104")],
    ids=["epic-local", "dm+d-snomed"],
)
def test_a_medication_the_sets_cannot_read_is_not_no_anticoagulant(code: tuple[str, str]) -> None:
    result = run_28(ANTICOAG, record(medications=(med(code, display="Tablet 5 mg"),)))
    assert result.status == "unknown"
    assert "which the criterion cannot read" in result.reason
    assert "Tablet 5 mg" in result.reason


def test_a_readable_medication_that_is_no_anticoagulant_clears_it() -> None:
    metformin = med((RXNORM, "6809"), display="metformin")
    assert run_28(ANTICOAG, record(medications=(metformin,))).status == "met"


def test_an_allergy_coded_outside_the_sets_systems_is_unknown() -> None:
    snomed_only = allergy(frozenset({("http://snomed.info/sct", "294530006")}))
    result = run(ALLERGY, rec(allergies=(snomed_only,)), lookback=36500)
    assert result.status == "unknown"
    assert "which the criterion cannot read" in result.reason


def test_a_procedure_coded_only_locally_is_unknown() -> None:
    local = ProcedureFact(
        "Procedure/l", frozenset({("urn:oid:1.2.3", "RT-9")}), "completed", day(200), display="RT"
    )
    result = run(RADIOTHERAPY, rec(procedures=(local,)), lookback=36500)
    assert result.status == "unknown"
    assert result.reason == (
        "Prior radiotherapy: Procedure/l (RT) is coded only in urn:oid:1.2.3, which the "
        "criterion cannot read"
    )


def test_the_reason_names_at_most_two_systems() -> None:
    from cds_hooks.eligibility.rules.base import not_read, unreadable

    codes = [("urn:c", "1"), ("urn:a", "2"), ("urn:b", "3")]
    assert not_read("X/1", codes, "", "Text") == (
        "X/1 (Text) is coded only in urn:a, urn:b, …, which the criterion cannot read"
    )
    assert not_read("X/1", codes[:1], "", None) == (
        "X/1 (1) is coded only in urn:c, which the criterion cannot read"
    )
    assert (
        not_read("X/1", [], "medication ", None) == "X/1 has no readable medication code (no text)"
    )
    ibd = TERMS.code_set("inflammatory_bowel_disease_dx")
    assert unreadable([("urn:c", "1")], [ibd])
    assert unreadable([], [ibd])
    assert not unreadable([("urn:c", "1"), ("http://snomed.info/sct", "1")], [ibd])
    assert unreadable([("http://snomed.info/sct", "1")], [])  # no set: nothing can be read


def test_an_unreadable_medication_counts_only_where_it_could_count() -> None:
    import dataclasses
    from datetime import timedelta

    from tests.unit.test_engine_rules import AS_OF
    from tests.unit.test_rules_generic import PRIOR_ICI

    def given(days_before: int | None) -> Any:
        order = med((EPIC_ERX, "90210"), status="completed", display="Infusion")
        when = None if days_before is None else AS_OF - timedelta(days=days_before)
        return dataclasses.replace(order, date=when)

    for days, status in ((10, "unknown"), (None, "unknown"), (400, "not_met")):
        result = run(PRIOR_ICI, rec(medications=(given(days),)), lookback=90)
        assert result.status == status, (days, result.reason)
