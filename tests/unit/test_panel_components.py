"""Values read from a panel's components: the panel's status, date and problems decide
whether they count, exactly as for an Observation of its own, and the newer of a component
and an own Observation wins whatever the order."""

from __future__ import annotations

import dataclasses

import pytest

from fhir_mappings.facts import (
    LOINC,
    ObservationComponent,
    ObservationFact,
    ObservationValue,
    Quantity,
)
from tests.unit.test_engine_rules import (
    INTACT,
    LOST,
    MSI_RULE,
    PROTEINS,
    day,
    obs,
    record,
    run,
)
from tests.unit.test_status_matrix import OBSERVATION_STATUSES

SBP = (LOINC, "8480-6")
SYSTOLIC = {
    "type": "lab_threshold",
    "label": "Systolic",
    "code_set": "blood_pressure",
    "component": "systolic_blood_pressure",
    "op": ">",
    "value": 160,
    "unit": "mm[Hg]",
}


def bp(value: float, *, days: int = 3, status: str = "final") -> ObservationFact:
    component = ObservationComponent(
        frozenset({SBP}), ObservationValue(quantity=Quantity(value, "mm[Hg]"))
    )
    return obs((LOINC, "85354-9"), components=(component,), days=days, status=status)


@pytest.mark.parametrize(("status", "counts"), OBSERVATION_STATUSES.items())
def test_a_panel_counts_only_with_a_counted_status(status: str, counts: bool) -> None:
    result = run(SYSTOLIC, record(bp(172, status=status)))
    assert result.status == ("met" if counts else "unknown")


@pytest.mark.parametrize(("days", "expected"), [(28, "met"), (29, "unknown"), (-1, "unknown")])
def test_a_panel_counts_only_inside_the_window(days: int, expected: str) -> None:
    assert run(SYSTOLIC, record(bp(172, days=days)), lookback=28).status == expected


def test_a_panel_with_a_problem_does_not_count() -> None:
    panel = dataclasses.replace(bp(172), problem="effective date '2026-02' is not a full date")
    assert run(SYSTOLIC, record(panel)).status == "unknown"


def test_an_absent_or_empty_component_does_not_count() -> None:
    absent = ObservationComponent(
        frozenset({SBP}), ObservationValue(data_absent_reason="not performed")
    )
    empty = ObservationComponent(frozenset({SBP}), ObservationValue())
    for component in (absent, empty):
        panel = obs((LOINC, "85354-9"), components=(component,), days=3)
        assert run(SYSTOLIC, record(panel)).status == "unknown"


@pytest.mark.parametrize(("value", "expected"), [(160, "not_met"), (161, "met"), (160.5, "met")])
def test_a_component_at_the_threshold(value: float, expected: str) -> None:
    assert run(SYSTOLIC, record(bp(value))).status == expected


def test_the_newer_of_a_component_and_an_own_observation_decides() -> None:
    own_new = obs(SBP, q=150, unit="mm[Hg]", days=1)
    panel_old = bp(172, days=5)
    assert run(SYSTOLIC, record(own_new, panel_old)).status == "not_met"
    own_old = obs(SBP, q=150, unit="mm[Hg]", days=5)
    panel_new = bp(172, days=1)
    result = run(SYSTOLIC, record(own_old, panel_new))
    assert result.status == "met"
    assert result.evidence[0].reference == panel_new.ref


def test_the_newest_counted_panel_decides() -> None:
    newer = bp(150, days=2)
    older = bp(172, days=10)
    preliminary = bp(120, days=1, status="preliminary")
    assert run(SYSTOLIC, record(preliminary, newer, older)).status == "not_met"


def mmr_panel(code: tuple[str, str], *, status: str = "final", days: int = 1) -> ObservationFact:
    return obs(
        (LOINC, "85337-4"),
        status=status,
        days=days,
        components=tuple(
            ObservationComponent(frozenset({p}), ObservationValue(codes=frozenset({code})))
            for p in PROTEINS
        ),
    )


@pytest.mark.parametrize(("status", "counts"), OBSERVATION_STATUSES.items())
def test_a_preliminary_mmr_panel_decides_nothing(status: str, counts: bool) -> None:
    intact = run(MSI_RULE, record(mmr_panel(INTACT, status=status)))
    assert intact.status == ("met" if counts else "unknown")
    lost = run(MSI_RULE, record(mmr_panel(LOST, status=status)))
    assert lost.status == ("not_met" if counts else "unknown")


def test_an_mmr_panel_outside_the_window_decides_nothing() -> None:
    result = run(MSI_RULE, record(mmr_panel(INTACT, days=29)), lookback=28)
    assert result.status == "unknown"
    assert result.reason == "No MSI or MMR result on record"
    assert run(MSI_RULE, record(mmr_panel(INTACT, days=28)), lookback=28).status == "met"


def test_a_lost_protein_in_its_own_observation_is_named() -> None:
    result = run(
        MSI_RULE,
        record(*[obs(p, coded=INTACT) for p in PROTEINS[:3]], obs(PROTEINS[3], coded=LOST)),
    )
    assert result.status == "not_met"
    assert result.reason == "loss of PMS2 expression (dMMR)"
    assert {e.note for e in result.evidence} == {"MLH1", "MSH2", "MSH6", "PMS2"}
    assert all(e.date == day(1).isoformat() for e in result.evidence)
