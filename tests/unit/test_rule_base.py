"""The evidence helpers every rule shares: how a value is shown, which value of a result
is cited, how outcomes are joined, and how a label reads inside a sentence."""

from __future__ import annotations

from datetime import date

import pytest

from cds_hooks.eligibility.results import Evidence
from cds_hooks.eligibility.rules.base import (
    MET,
    UNKNOWN,
    Outcome,
    cond_evidence,
    join,
    lower_first,
    obs_evidence,
    plain_value,
    shown,
)
from cds_hooks.eligibility.values import Reading
from fhir_mappings.facts import LOINC, ConditionFact, ObservationFact, ObservationValue, Quantity


@pytest.mark.parametrize(
    ("reading", "text"),
    [
        (Reading(1.5, None, 1.5, "10*9/L", False), "1.5 10*9/L"),
        (Reading(1.5, "<", 1.5, "10*9/L", False), "<1.5 10*9/L"),
        (Reading(1500.0, None, 1500, "/uL", True), "1500 /uL"),
        (Reading(2.0, None, 2, None, False), "2"),
        (Reading(2.0, ">=", 2, None, False), ">=2"),
        (Reading(2.0, None, "LA9624-3", None, False), "2 (LA9624-3)"),
        (Reading(2.0, None, "two", "mg", False), "two mg"),
    ],
)
def test_shown(reading: Reading, text: str) -> None:
    assert shown(reading) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ObservationValue(quantity=Quantity(3.0, "mg")), (3.0, "mg")),
        (ObservationValue(integer=4), (4, None)),
        (ObservationValue(boolean=False), (False, None)),
        (ObservationValue(codes=frozenset({(LOINC, "B"), (LOINC, "A")})), ("A", None)),
        (ObservationValue(text="see report"), ("see report", None)),
        (ObservationValue(), (None, None)),
    ],
)
def test_plain_value(value: ObservationValue, expected: tuple[object, str | None]) -> None:
    assert plain_value(value) == expected


def fact(value: ObservationValue, day: date | None = date(2026, 3, 1)) -> ObservationFact:
    return ObservationFact("Observation/o", frozenset(), "final", day, value)


def test_obs_evidence() -> None:
    plain = fact(ObservationValue(quantity=Quantity(3.0, "mg")))
    assert obs_evidence(plain) == Evidence("Observation/o", 3.0, "mg", "2026-03-01", None)
    assert obs_evidence(fact(ObservationValue(), None)) == Evidence(
        "Observation/o", None, None, None, None
    )
    reading = Reading(0.3, "<", 0.3, "mg/dL", False)
    assert obs_evidence(plain, reading, "ULN 1.2") == Evidence(
        "Observation/o", 0.3, "mg/dL", "2026-03-01", "reported as <0.3; ULN 1.2"
    )
    assert obs_evidence(plain, reading).note == "reported as <0.3"
    converted = Reading(1.5, None, 1500, "/uL", True)
    assert obs_evidence(plain, converted, "= 1.5") == Evidence(
        "Observation/o", 1500, "/uL", "2026-03-01", "= 1.5"
    )


def test_cond_evidence() -> None:
    named = ConditionFact(
        "Condition/c",
        frozenset({("s", "B"), ("s", "A")}),
        None,
        None,
        None,
        display="Rectal cancer",
    )
    assert cond_evidence(named, "note") == Evidence(
        "Condition/c", "Rectal cancer", None, None, "note"
    )
    coded = ConditionFact(
        "Condition/c", frozenset({("s", "B"), ("s", "A")}), None, None, date(2026, 1, 2)
    )
    assert cond_evidence(coded) == Evidence("Condition/c", "A", None, "2026-01-02", None)
    bare = ConditionFact("Condition/c", frozenset(), None, None, None)
    assert cond_evidence(bare).value is None


def test_join_keeps_every_reason_and_each_evidence_once() -> None:
    a = Evidence("Observation/a", 1, None, "2026-03-01", None)
    b = Evidence("Observation/b", 2, None, "2026-03-01", None)
    joined = join(UNKNOWN, [Outcome(MET, "first", (a,)), Outcome(MET, "second", (a, b))])
    assert joined == Outcome(UNKNOWN, "first; second", (a, b))
    assert join(MET, []) == Outcome(MET, "", ())


@pytest.mark.parametrize(
    ("label", "inside"),
    [
        ("Prior radiotherapy", "prior radiotherapy"),
        ("FAP or Lynch syndrome", "FAP or Lynch syndrome"),
        ("MI in 6 months", "MI in 6 months"),
        ("anticoagulant", "anticoagulant"),
        ("A", "A"),
        ("Hb", "hb"),
        ("PD-L1", "PD-L1"),
        ("", ""),
    ],
)
def test_lower_first(label: str, inside: str) -> None:
    assert lower_first(label) == inside
