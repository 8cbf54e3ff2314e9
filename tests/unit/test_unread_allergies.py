"""An allergy coded only in a system the criterion cannot read (a hospital's own allergen
list) is unknown, and the reason names the record, its text (or its code) and the system."""

from __future__ import annotations

from tests.unit.test_rule_outcomes import UNREAD_ALLERGY, allergy
from tests.unit.test_rules_generic import ALLERGY, rec, run

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
