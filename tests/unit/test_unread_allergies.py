"""An allergy coded only in a system the criterion cannot read (a hospital's own allergen
list) is unknown, and the reason names the record, its text (or its code) and the system; so
is one whose verificationStatus is only a local code."""

from __future__ import annotations

from fhir_mappings.facts import UNREAD_VERIFICATION
from tests.unit.test_rule_outcomes import UNREAD_ALLERGY, allergy
from tests.unit.test_rules_generic import ALLERGY, OXALIPLATIN, rec, run

ALLERGENS = "http://hospital.example/allergens"


def test_a_locally_coded_allergy_is_unknown_and_named() -> None:
    named = run(ALLERGY, rec(allergies=(allergy(frozenset({(ALLERGENS, "A-12")})),)))
    assert (named.status, named.reason, named.evidence) == (
        "unknown",
        "Allergy to the therapy: AllergyIntolerance/a (oxaliplatin) is coded only in "
        f"{ALLERGENS}, which the criterion cannot read",
        (UNREAD_ALLERGY,),
    )
    bare = allergy(frozenset({(ALLERGENS, "A-12")}), display=None)
    assert run(ALLERGY, rec(allergies=(bare,))).reason == (
        f"Allergy to the therapy: AllergyIntolerance/a (A-12) is coded only in {ALLERGENS}, "
        "which the criterion cannot read"
    )


def test_an_allergy_whose_verification_status_cannot_be_read_is_unknown() -> None:
    # Epic's own status code "3" may be "refuted": the allergy neither excludes nor clears.
    local = allergy(frozenset({OXALIPLATIN}), verification_status="'3'" + UNREAD_VERIFICATION)
    result = run(ALLERGY, rec(allergies=(local,)))
    assert (result.status, result.reason) == (
        "unknown",
        "Allergy to the therapy: oxaliplatin is not known to be confirmed "
        "(verificationStatus '3', not a FHIR verification status)",
    )
    assert [e.reference for e in result.evidence] == ["AllergyIntolerance/a"]
    # A confirmed allergy to the same drug still decides.
    confirmed = allergy(frozenset({OXALIPLATIN}), ref="AllergyIntolerance/b")
    assert run(ALLERGY, rec(allergies=(local, confirmed))).status == "met"
