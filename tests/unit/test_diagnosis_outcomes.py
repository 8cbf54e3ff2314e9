"""The diagnosis rule checked whole: status, reason and every piece of evidence on each path
(confirmed code, histology on the diagnosis, pathology report or Observation inside or
outside the window, suspected, refuted, inactive, undated, without histology)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cds_hooks.eligibility import CriterionResult
from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import (
    ICDO3,
    LOINC,
    SNOMED,
    ConditionFact,
    DiagnosticReportFact,
    ObservationFact,
    PatientRecord,
)
from tests.unit.test_engine_rules import (
    C20,
    DIAGNOSIS,
    HISTOLOGY,
    RECTAL_ADENO,
    cond,
    day,
    diagnose,
    obs,
    record,
    run,
)

PATHOLOGY = (LOINC, "59847-4")
ADENO = (ICDO3, "8140/3")
WITH_PATHOLOGY = {**DIAGNOSIS, "pathology_code_sets": ["pathology_histology_observation"]}


def ev(c: ConditionFact, note: str | None = None) -> Evidence:
    value = c.display or sorted(c.codes)[0][1]
    return Evidence(c.ref, value, None, c.date.isoformat() if c.date else None, note)


def report(days: int = 50, status: str = "final") -> DiagnosticReportFact:
    return DiagnosticReportFact(
        ref="DiagnosticReport/path",
        codes=frozenset({(LOINC, "60568-3")}),
        status=status,
        date=day(days),
        conclusion="Adenocarcinoma, moderately differentiated",
        conclusion_codes=frozenset({(SNOMED, "35917007")}),
    )


def report_ev(r: DiagnosticReportFact) -> Evidence:
    when = r.date.isoformat() if r.date else None
    return Evidence(r.ref, r.conclusion, None, when, "pathology conclusion")


def by_pathology(rec: PatientRecord, lookback: int = 3650) -> CriterionResult:
    return run(WITH_PATHOLOGY, rec, lookback=lookback)


# --------------------------------------------------------------------------- met
def test_a_code_that_states_the_histology() -> None:
    c = cond(RECTAL_ADENO)
    result = diagnose(record(conditions=(c,)))
    how = "diagnosis code states adenocarcinoma"
    assert (result.status, result.reason) == ("met", f"Diagnosis on {day(60)} ({how})")
    assert result.evidence == (ev(c, how),)
    named = dataclasses.replace(c, display="Adenocarcinoma of rectum")
    result = diagnose(record(conditions=(named,)))
    assert result.reason == f"Adenocarcinoma of rectum on {day(60)} ({how})"
    assert result.evidence == (ev(named, how),)


def test_histology_recorded_on_the_diagnosis() -> None:
    c = cond(C20, histology=HISTOLOGY)
    result = diagnose(record(conditions=(c,)))
    how = "histology recorded on the diagnosis"
    assert (result.status, result.reason) == ("met", f"Diagnosis on {day(60)} ({how})")
    assert result.evidence == (ev(c, how),)


def test_histology_from_a_report_inside_the_window() -> None:
    c, r = cond(C20, days=60), report(days=50)
    result = diagnose(record(conditions=(c,), reports=(r,)), lookback=90)
    assert (result.status, result.reason) == (
        "met",
        f"Diagnosis with histology in DiagnosticReport/path on {day(50)}",
    )
    assert result.evidence == (ev(c), report_ev(r))
    named = dataclasses.replace(c, display="Rectal cancer")
    result = diagnose(record(conditions=(named,), reports=(r,)), lookback=90)
    assert result.reason == f"Rectal cancer with histology in DiagnosticReport/path on {day(50)}"


@pytest.mark.parametrize(("condition_days", "report_days"), [(100, 50), (60, 100)])
def test_a_diagnosis_or_report_outside_the_window_does_not_confirm(
    condition_days: int, report_days: int
) -> None:
    c = cond(C20, days=condition_days)
    result = diagnose(record(conditions=(c,), reports=(report(report_days),)), lookback=90)
    assert (result.status, result.reason) == (
        "unknown",
        "Diagnosis on record without histology (adenocarcinoma not confirmed)",
    )
    assert result.evidence == (ev(c),)


def pathology(**changes: Any) -> ObservationFact:
    return dataclasses.replace(obs(PATHOLOGY, coded=ADENO, days=20), **changes)


def test_histology_from_a_pathology_observation() -> None:
    c, o = cond(C20), pathology()
    result = by_pathology(record(o, conditions=(c,)))
    assert (result.status, result.reason) == (
        "met",
        f"Diagnosis with histology in {o.ref} on {day(20)}",
    )
    assert result.evidence == (
        ev(c),
        Evidence(o.ref, "histology", None, day(20).isoformat(), "pathology conclusion"),
    )
    shown = pathology(display="Histology")
    result = by_pathology(record(shown, conditions=(c,)))
    assert result.evidence[1] == Evidence(
        shown.ref, "Histology", None, day(20).isoformat(), "pathology conclusion"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "preliminary"},
        {"status": "registered"},
        {"date": None},
        {"problem": "unreadable value"},
    ],
)
def test_a_pathology_observation_that_does_not_count(changes: dict[str, object]) -> None:
    result = by_pathology(record(pathology(**changes), conditions=(cond(C20),)))
    assert (result.status, result.reason) == (
        "unknown",
        "Diagnosis on record without histology (adenocarcinoma not confirmed)",
    )


def test_a_pathology_observation_of_another_histology_does_not_confirm() -> None:
    squamous = obs(PATHOLOGY, coded=(ICDO3, "8070/3"), days=20)
    result = by_pathology(record(squamous, conditions=(cond(C20),)))
    assert result.status == "unknown"


# --------------------------------------------------------------------------- not met / unknown
def test_suspected_only_is_unknown() -> None:
    c = dataclasses.replace(cond(RECTAL_ADENO, verification="provisional"), suspected=True)
    result = diagnose(record(conditions=(c,)))
    assert (result.status, result.reason) == (
        "unknown",
        "Diagnosis is suspected, not confirmed (verificationStatus provisional)",
    )
    assert result.evidence == (ev(c, "suspected, not confirmed"),)
    marker = dataclasses.replace(c, verification_status=None, display="Rectal cancer (V)")
    result = diagnose(record(conditions=(marker,)))
    assert result.reason == (
        "Rectal cancer (V) is suspected, not confirmed (verificationStatus not given)"
    )


def test_refuted_diagnoses_are_named() -> None:
    one = cond(RECTAL_ADENO, verification="refuted")
    two = cond(C20, verification="entered-in-error")
    result = diagnose(record(conditions=(one, two)))
    assert result.status == "not_met"
    assert result.reason == (
        f"No rectal adenocarcinoma on record ({one.ref}, {two.ref} is refuted or entered in error)"
    )
    assert result.evidence == (ev(one, "not counted"), ev(two, "not counted"))


def test_an_inactive_diagnosis_is_unknown() -> None:
    c = cond(RECTAL_ADENO, clinical="remission")
    result = diagnose(record(conditions=(c,)))
    assert (result.status, result.reason) == (
        "unknown",
        "Diagnosis on record is marked remission; confirm current disease",
    )
    assert result.evidence == (ev(c),)


def test_an_undated_diagnosis_is_unknown() -> None:
    c = cond(RECTAL_ADENO, days=None)
    result = diagnose(record(conditions=(c,)))
    assert (result.status, result.reason) == ("unknown", "Diagnosis has no onset or recorded date")
    assert result.evidence == (ev(c),)


def test_without_histology_names_every_active_diagnosis() -> None:
    a, b = cond(C20, days=60), cond(C20, days=30)
    result = diagnose(record(conditions=(a, b)))
    assert (result.status, result.reason) == (
        "unknown",
        "Diagnosis on record without histology (adenocarcinoma not confirmed)",
    )
    assert set(result.evidence) == {ev(a), ev(b)}
    named = dataclasses.replace(a, display="Rectal cancer")
    result = diagnose(record(conditions=(named,)))
    assert (
        result.reason == "Rectal cancer on record without histology (adenocarcinoma not confirmed)"
    )


@pytest.mark.parametrize(
    ("codes", "shown"),
    [
        (frozenset(), "has no readable code (Rektumkarzinom)"),
        (
            frozenset({("urn:oid:1.2.840.114350.1.13.0.1.7.2.696871", "123")}),
            "is coded only in urn:oid:1.2.840.114350.1.13.0.1.7.2.696871",
        ),
    ],
)
def test_a_diagnosis_in_text_or_local_codes_only_is_unknown_not_absent(
    codes: frozenset[tuple[str, str]], shown: str
) -> None:
    text_only = dataclasses.replace(cond(C20), codes=codes, display="Rektumkarzinom")
    result = run(DIAGNOSIS, record(conditions=(text_only,)))
    assert result.status == "unknown"
    assert shown in result.reason
    assert "it may be the diagnosis looked for" in result.reason
    assert [e.reference for e in result.evidence] == [text_only.ref]
    # With nothing on record at all, the diagnosis is absent.
    assert run(DIAGNOSIS, record()).status == "not_met"
