"""Medication and allergy answers checked whole where several records are cited: every
possible drug is named, and each allergy carries its own date (undated: the screening
date), never another record's."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import AllergyFact, MedicationFact
from fhir_mappings.record import build_record
from tests.unit.test_engine_rules import ANTICOAG, APIXABAN, AS_OF, day, med, record, run
from tests.unit.test_rules_generic import ALLERGY, NIVOLUMAB, OXALIPLATIN, PRIOR_ICI, rec

TODAY = AS_OF.isoformat()


def test_every_possible_drug_is_named() -> None:
    unknown_code = dataclasses.replace(
        med(("urn:local", "X1"), display="apixaban or warfarin"),
        possible_drugs=("apixaban", "warfarin"),
        possible_codes=frozenset({APIXABAN}),
    )
    result = run(ANTICOAG, record(medications=(unknown_code,)))
    assert (result.status, result.reason) == (
        "unknown",
        f"anticoagulant or antiplatelet: {unknown_code.ref} may be apixaban, warfarin; "
        "code not recognised",
    )


def oxaliplatin(rid: str, days: int | None, display: str | None) -> AllergyFact:
    when = day(days) if days is not None else None
    return AllergyFact(rid, frozenset({OXALIPLATIN}), "active", "confirmed", when, display)


def test_each_allergy_is_cited_with_its_own_date() -> None:
    dated = oxaliplatin("AllergyIntolerance/c", 100, None)
    undated = oxaliplatin("AllergyIntolerance/b", None, "Eloxatin")
    result = run(ALLERGY, rec(allergies=(dated, undated)), lookback=36500)
    assert (result.status, result.reason) == (
        "met",
        f"Allergy to the therapy: AllergyIntolerance/c (recorded {day(100)})",
    )
    assert result.evidence == (
        Evidence(dated.ref, None, None, day(100).isoformat(), "active"),
        Evidence(undated.ref, "Eloxatin", None, TODAY, "active"),
    )
    alone = run(ALLERGY, rec(allergies=(undated,)), lookback=36500)
    assert alone.reason == f"Allergy to the therapy: Eloxatin (recorded {TODAY})"


def test_no_allergy_cites_the_allergy_search() -> None:
    result = run(ALLERGY, rec(), lookback=36500)
    assert (result.status, result.reason) == (
        "not_met",
        "No allergy to the therapy among 0 allergy records reviewed",
    )
    assert result.evidence == (
        Evidence(
            "AllergyIntolerance?patient=p",
            0,
            None,
            TODAY,
            "allergy records reviewed on the screening date",
        ),
    )


def opdivo(days_before: int | None) -> MedicationFact:
    """A completed order whose code is local but whose text names nivolumab."""
    when = None if days_before is None else AS_OF - timedelta(days=days_before)
    return dataclasses.replace(
        med(("urn:local", "X9"), status="completed", display="Opdivo infusion"),
        date=when,
        possible_drugs=("nivolumab",),
        possible_codes=frozenset({NIVOLUMAB}),
    )


def test_a_possible_drug_inside_the_window_or_undated_keeps_the_history_open() -> None:
    for days in (10, None):
        order = opdivo(days)
        result = run(PRIOR_ICI, rec(medications=(order,)), lookback=90)
        assert (result.status, result.reason) == (
            "unknown",
            f"Prior immune checkpoint inhibitor: {order.ref} may be nivolumab; code not recognised",
        )
        when = order.date.isoformat() if order.date else None
        assert result.evidence == (Evidence(order.ref, "Opdivo infusion", None, when, "completed"),)


def test_a_possible_drug_before_the_window_does_not() -> None:
    result = run(PRIOR_ICI, rec(medications=(opdivo(400),)), lookback=90)
    assert (result.status, result.reason) == (
        "not_met",
        "No prior immune checkpoint inhibitor among 1 medication record reviewed",
    )


def test_a_clear_names_the_search_with_the_whole_patient_id() -> None:
    # The reader keeps a Patient id as sent, a "/" included (not a FHIR id, but not
    # refused): the search a clear rests on names that patient, not a part of the id.
    patient = {"resourceType": "Patient", "id": "ward7/p1", "birthDate": "1960-01-01"}
    cleared = build_record([patient])
    none_active = run(ANTICOAG, cleared)
    assert (none_active.status, none_active.evidence[0].reference) == (
        "met",
        "MedicationRequest?patient=ward7/p1&status=active",
    )
    never_given = run(PRIOR_ICI, cleared, lookback=365)
    assert (never_given.status, never_given.evidence[0].reference) == (
        "not_met",
        "MedicationRequest?patient=ward7/p1",
    )
