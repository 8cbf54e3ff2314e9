"""report_number, path by path and whole (status, reason, evidence): a coded Observation
first, else the length a final report of the named modality states before the anchor."""

from __future__ import annotations

import dataclasses

import pytest

from cds_hooks.eligibility.results import CriterionResult, Evidence
from fhir_mappings.facts import LOINC, DiagnosticReportFact, ObservationFact
from tests.unit.test_engine_rules import DIST, DISTANCE, day, mri, obs, record, run


def screen(
    *facts: ObservationFact, reports: tuple[DiagnosticReportFact, ...] = ()
) -> CriterionResult:
    return run(DISTANCE, record(*facts, reports=reports), lookback=90)


def test_an_observation_decides_first() -> None:
    fact = obs(DIST, q=60, unit="mm", days=3)
    result = screen(fact, reports=(mri("Tumour 12 cm from the anal verge.", days=1),))
    assert result.status == "met"
    assert result.reason == f"Distance from the anal verge 60 mm on {day(3)} ≤ 10 cm"
    assert result.evidence[0].reference == fact.ref
    far = screen(obs(DIST, q=12, unit="cm", days=3))
    assert far.reason == f"Distance from the anal verge 12 cm on {day(3)} > 10 cm"
    bounded = screen(obs(DIST, q=12, unit="cm", comparator="<", days=3))
    assert bounded.reason == f"Distance from the anal verge <12 cm on {day(3)} vs 10 cm"
    bad = obs(DIST, q=12, unit="furlongs", days=3)
    unreadable = screen(bad)
    assert unreadable.reason == (
        f"Distance from the anal verge: unit 'furlongs' not recognised ({bad.ref})"
    )


@pytest.mark.parametrize(
    ("text", "status", "reason", "value", "unit", "note"),
    [
        (
            "Tumour 6 cm from the anal verge.",
            "met",
            "6 cm (MRI report {d}) ≤ 10 cm",
            6.0,
            "cm",
            "read from the report conclusion",
        ),
        (
            "Lower edge 100 mm above the anal verge.",
            "met",
            "100 mm (MRI report {d}) ≤ 10 cm",
            100.0,
            "mm",
            "read from the report conclusion",
        ),
        (
            "More than 10 cm from the anal verge.",
            "not_met",
            ">10 cm (MRI report {d}) > 10 cm",
            10.0,
            "cm",
            "read from the report conclusion (>10)",
        ),
        (
            "More than 8 cm from the anal verge.",
            "unknown",
            ">8 cm (MRI report {d}) cannot be compared with 10 cm",
            8.0,
            "cm",
            "read from the report conclusion (>8)",
        ),
        (
            "Tumour at least 10 cm from the anal verge.",
            "unknown",
            ">=10 cm (MRI report {d}) cannot be compared with 10 cm",
            10.0,
            "cm",
            "read from the report conclusion (>=10)",
        ),
        (
            "Tumour ≤ 4,5 cm from the anal verge.",
            "met",
            "<=4.5 cm (MRI report {d}) ≤ 10 cm",
            4.5,
            "cm",
            "read from the report conclusion (<=4.5)",
        ),
    ],
)
def test_lengths_read_from_the_conclusion(
    text: str, status: str, reason: str, value: float, unit: str, note: str
) -> None:
    report = mri(text)
    result = screen(reports=(report,))
    assert result.status == status
    assert result.reason == "Distance from the anal verge " + reason.format(d=day(20))
    assert result.evidence == (Evidence(report.ref, value, unit, day(20).isoformat(), note),)


def test_the_same_length_twice_is_one_value_but_two_are_ambiguous() -> None:
    same = mri("6 cm from the anal verge; i.e. 60 mm from the anal verge.")
    assert screen(reports=(same,)).status == "met"
    two = mri("Tumour 6 cm from the anal verge; second lesion 12 cm from the anal verge.")
    result = screen(reports=(two,))
    assert result.reason == (
        f"Distance from the anal verge: report {two.ref} states several values (12 cm, 6 cm)"
    )
    assert result.evidence == (
        Evidence(two.ref, None, None, day(20).isoformat(), "ambiguous text"),
    )


def test_a_negated_statement_needs_a_person() -> None:
    text = "No tumour within 10 cm of the anal verge."
    report = mri(text)
    result = screen(reports=(report,))
    assert result.reason == (
        f"Distance from the anal verge: report {report.ref} conclusion is a negated statement; "
        "needs reading by a person"
    )
    assert result.evidence == (
        Evidence(report.ref, text, None, day(20).isoformat(), "negated text"),
    )


@pytest.mark.parametrize(
    "text",
    [
        "Tumour from 4 to 9 cm from the anal verge.",
        "Tumour 6-12 cm from the anal verge.",
        "Tumour 4 cm – 9 cm from the anal verge.",
        "Lower border 10 cm or more from the anal verge.",
        "Lower border 5 cm and above from the anal verge.",
    ],
)
def test_a_range_is_not_one_distance(text: str) -> None:
    report = mri(text)
    result = screen(reports=(report,))
    assert result.status == "unknown"
    assert result.reason == (
        f"Distance from the anal verge: report {report.ref} conclusion is a range, not one "
        "distance; needs reading by a person"
    )
    assert result.evidence == (Evidence(report.ref, text, None, day(20).isoformat(), "range text"),)
    # A size before the distance is no range: "a 3 cm mass 8 cm from" reads 8 cm.
    assert screen(reports=(mri("A 3 cm mass 8 cm from the anal verge."),)).status == "met"


def test_which_reports_count() -> None:
    text = "Tumour 6 cm from the anal verge."
    assert screen(reports=(mri(text, days=90),)).status == "met"
    assert screen(reports=(mri(text, days=91),)).status == "unknown"
    undated = dataclasses.replace(mri(text), date=None)
    assert screen(reports=(undated,)).status == "unknown"
    empty = dataclasses.replace(mri(text), conclusion="")
    assert screen(reports=(empty,)).status == "unknown"
    mr_only = {**DISTANCE, "modalities": ["MR"]}

    def mr_status(report: DiagnosticReportFact) -> str:
        return run(mr_only, record(reports=(report,)), lookback=90).status

    assert mr_status(dataclasses.replace(mri(text), modality="CT")) == "unknown"
    assert mr_status(dataclasses.replace(mri(text), modality="MR")) == "met"
    assert mr_status(mri(text)) == "met"  # in the MRI report set, modality not stated
    # Outside the report code sets: counts only when its modality is known to be MR.
    other = dataclasses.replace(mri(text), codes=frozenset({(LOINC, "11111-1")}))
    assert mr_status(other) == "unknown"
    assert mr_status(dataclasses.replace(other, modality="MR")) == "met"
    # ... and only when it names the anchor.
    unanchored = dataclasses.replace(other, modality="MR", conclusion="Tumour 6 cm.")
    assert mr_status(unanchored) == "unknown"
    # The newest report that states it decides; one that states nothing is passed over.
    silent = mri("Mid rectal tumour, mrT3.", days=5)
    older = mri("Tumour 12 cm from the anal verge.", days=30)
    assert screen(reports=(silent, older)).status == "not_met"


def test_nothing_to_read() -> None:
    result = screen()
    assert result.reason == (
        "Distance from the anal verge: no result in the last 90 days; no MRI report states it"
    )
    down = run(
        DISTANCE,
        record(
            reports=(mri("Tumour 6 cm from the anal verge."),),
            unavailable={"DiagnosticReport": "HTTP 503"},
        ),
        lookback=90,
    )
    assert down.reason == (
        "Distance from the anal verge: no result in the last 90 days; "
        "reports unavailable (HTTP 503)"
    )


@pytest.mark.parametrize(
    ("text", "status"),
    [
        # Negation is read in the clause of the length only, before and up to it.
        ("Polyp. No nodes. Tumour 6 cm from the anal verge.", "met"),
        ("Tumour 6 cm from the anal verge. No nodes.", "met"),
        ("No nodes seen on X-ray, tumour 6 cm from the anal verge.", "unknown"),
        ("Tumour < 12 cm from the anal verge.", "unknown"),  # "<12" may or may not be ≤ 10
        ("Tumour <= 6 cm from the anal verge.", "met"),
        ("Tumour > 12 cm from the anal verge.", "not_met"),
    ],
)
def test_negation_and_symbols_in_the_conclusion(text: str, status: str) -> None:
    assert screen(reports=(mri(text),)).status == status


def test_each_unknown_path_is_unknown_with_its_evidence() -> None:
    bad = obs(DIST, q=12, unit="furlongs", days=3)
    unreadable = screen(bad)
    assert unreadable.status == "unknown"
    assert unreadable.evidence == (Evidence(bad.ref, 12, "furlongs", day(3).isoformat(), None),)
    bounded = screen(obs(DIST, q=12, unit="cm", comparator="<", days=3))
    assert bounded.status == "unknown"
    assert bounded.evidence[0].note == "reported as <12"
    down = run(
        DISTANCE,
        record(
            reports=(mri("Tumour 6 cm from the anal verge."),),
            unavailable={"DiagnosticReport": "x"},
        ),
        lookback=90,
    )
    assert down.status == "unknown"
    report = mri("Tumour 6 cm from the anal verge.")
    volume = run({**DISTANCE, "unit": "mL"}, record(reports=(report,)), lookback=90)
    assert (volume.status, volume.reason) == (
        "unknown",
        f"Distance from the anal verge: report {report.ref} length not in mL",
    )


def test_an_older_report_decides_when_newer_ones_do_not_count() -> None:
    text = "Tumour 12 cm from the anal verge."
    mr_only = {**DISTANCE, "modalities": ["MR"]}
    older = mri(text, days=30)
    newer = [
        mri("Tumour 6 cm from the anal verge.", days=5, status="preliminary"),
        dataclasses.replace(mri("Tumour 6 cm from the anal verge.", days=5), modality="CT"),
        dataclasses.replace(mri("Tumour 6 cm from the anal verge.", days=5), codes=frozenset()),
    ]
    for report in newer:
        result = run(mr_only, record(reports=(report, older)), lookback=90)
        assert result.status == "not_met"
        assert result.evidence[0].reference == older.ref
