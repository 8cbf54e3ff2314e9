"""A medication coded only in a system the criterion cannot read (a hospital's own drug
catalogue) is unknown for both medication rules, and the reason names the record, what it
says and the system, so the study team can look it up."""

from __future__ import annotations

import dataclasses

from cds_hooks.eligibility.results import Evidence
from tests.unit.test_engine_rules import ANTICOAG, day, med, record
from tests.unit.test_engine_rules import run as run_28_days
from tests.unit.test_rules_generic import PRIOR_ICI, rec, run

CATALOGUE = "http://hospital.example/drugs"


def test_an_active_drug_of_the_local_catalogue_is_unknown_and_named() -> None:
    named = med((CATALOGUE, "D-4711"), display="Tablette 5 mg")
    result = run_28_days(ANTICOAG, record(medications=(named,)))
    assert (result.status, result.reason) == (
        "unknown",
        f"{named.ref} (Tablette 5 mg) is coded only in {CATALOGUE}, which the criterion cannot "
        "read",
    )
    assert result.evidence == (
        Evidence(named.ref, "Tablette 5 mg", None, day(30).isoformat(), "active"),
    )
    # Without a text, the code itself is shown.
    bare = med((CATALOGUE, "D-4711"))
    assert run_28_days(ANTICOAG, record(medications=(bare,))).reason == (
        f"{bare.ref} (D-4711) is coded only in {CATALOGUE}, which the criterion cannot read"
    )


def test_a_past_drug_of_the_local_catalogue_keeps_the_history_open() -> None:
    given = med((CATALOGUE, "D-0815"), status="completed", display="Infusion Zyklus 3")
    result = run(PRIOR_ICI, rec(medications=(given,)))
    assert (result.status, result.reason) == (
        "unknown",
        f"Prior immune checkpoint inhibitor: {given.ref} (Infusion Zyklus 3) is coded only in "
        f"{CATALOGUE}, which the criterion cannot read",
    )
    assert result.evidence == (
        Evidence(given.ref, "Infusion Zyklus 3", None, day(30).isoformat(), "completed"),
    )


def test_two_local_systems_are_both_named_and_a_third_is_elided() -> None:
    other = "http://pharmacy.example/items"
    two = med((CATALOGUE, "D-4711"), display="Tablette 5 mg")
    two = dataclasses.replace(two, codes=two.codes | {(other, "P-1")})
    assert run_28_days(ANTICOAG, record(medications=(two,))).reason == (
        f"{two.ref} (Tablette 5 mg) is coded only in {CATALOGUE}, {other}, which the criterion "
        "cannot read"
    )
    three = dataclasses.replace(two, codes=two.codes | {("urn:oid:1.2.3", "9")})
    assert run_28_days(ANTICOAG, record(medications=(three,))).reason == (
        f"{three.ref} (Tablette 5 mg) is coded only in {CATALOGUE}, {other}, …, which the "
        "criterion cannot read"
    )
