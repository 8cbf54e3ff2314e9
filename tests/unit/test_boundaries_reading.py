"""Reading boundaries: age-specific reference ranges on their first and last year of age
(the age on the result's date), contradictions between a number and its own coded answer,
and modality from each source."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.facts import LOINC, UCUM, ObservationValue, PatientFact, Quantity, ReferenceRange
from fhir_mappings.observations import parse_observation
from fhir_mappings.reading import CONFLICTING, applicable_ranges, modality_of, refine_observation
from fhir_mappings.terminology import load_terminology

TERMS = load_terminology()


def aged(low: float | None, high: float | None, limit: float = 1.0) -> ReferenceRange:
    return ReferenceRange(high=Quantity(limit, "mg/dL"), age_low=low, age_high=high)


@pytest.mark.parametrize(
    ("age", "kept"),
    [(17.0, [0.9]), (18.0, [1.2]), (59.0, [1.2]), (60.0, [1.4]), (99.0, [1.4])],
)
def test_an_age_range_holds_on_its_first_and_last_year(age: float, kept: list[float]) -> None:
    ranges = (aged(None, 17, 0.9), aged(18, 59, 1.2), aged(60, None, 1.4))
    chosen = applicable_ranges(ranges, age)
    assert [r.high.value for r in chosen if r.high] == kept
    assert all(r.problem is None for r in chosen)


def test_ranges_without_age_are_always_kept() -> None:
    plain = ReferenceRange(high=Quantity(1.0, "mg/dL"))
    assert applicable_ranges((plain, aged(60, None)), 30.0) == (plain,)
    assert applicable_ranges((plain,), None) == (plain,)
    assert applicable_ranges((), 30.0) == ()


def test_an_age_range_with_its_own_problem_keeps_that_problem() -> None:
    bad = ReferenceRange(
        high=Quantity(1.0, "mg/dL"), age_low=18, problem="age unit 'kg' not understood"
    )
    (kept,) = applicable_ranges((bad,), None)
    assert kept.problem == "age unit 'kg' not understood"
    (unknown_age,) = applicable_ranges((aged(18, None),), None)
    assert unknown_age.problem == "age-specific reference range; patient age unknown"


def creatinine(day: str) -> dict[str, object]:
    years = {"system": UCUM, "code": "a"}
    return {
        "resourceType": "Observation",
        "id": "cr",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "2160-0"}]},
        "effectiveDateTime": day,
        "valueQuantity": {"value": 1.0, "system": UCUM, "code": "mg/dL"},
        "referenceRange": [
            {
                "high": {"value": 1.2, "system": UCUM, "code": "mg/dL"},
                "age": {"high": {"value": 59, **years}},
            },
            {
                "high": {"value": 1.4, "system": UCUM, "code": "mg/dL"},
                "age": {"low": {"value": 60, **years}},
            },
        ],
    }


@pytest.mark.parametrize(
    ("birth", "precision", "high"),
    [
        (date(1966, 2, 1), "day", 1.4),  # 60 on the result's date
        (date(1966, 2, 2), "day", 1.2),  # 60 the day after
        (date(1966, 1, 1), "year", None),  # age unknown: no range usable
    ],
)
def test_the_range_is_chosen_by_the_age_on_the_results_date(
    birth: date, precision: str, high: float | None
) -> None:
    patient = PatientFact("Patient/p", birth, precision, "female")
    fact = refine_observation(parse_observation(creatinine("2026-02-01")), TERMS, patient)
    if high is None:
        assert all(r.problem for r in fact.reference_ranges)
    else:
        (chosen,) = fact.reference_ranges
        assert chosen.high is not None
        assert chosen.high.value == high


def ecog(
    value: dict[str, object], interpretation: str | None = None
) -> ObservationValue | str | None:
    resource: dict[str, object] = {
        "resourceType": "Observation",
        "id": "e",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "89247-1"}]},
        "effectiveDateTime": "2026-02-01",
        **value,
    }
    if interpretation:
        resource["interpretation"] = [{"coding": [{"system": LOINC, "code": interpretation}]}]
    patient = PatientFact("Patient/p", date(1960, 1, 1), "day", "male")
    return refine_observation(parse_observation(resource), TERMS, patient).problem


def test_a_number_contradicting_its_own_coded_answer() -> None:
    # LA9624-3 is ECOG 2.
    assert ecog({"valueInteger": 1}, "LA9624-3") == (
        "implausible value: 1 contradicts its own coded answer LA9624-3 (2)"
    )
    assert ecog({"valueInteger": 2}, "LA9624-3") is None
    assert ecog({"valueQuantity": {"value": 1, "system": UCUM, "code": "{score}"}}, "LA9624-3") == (
        "implausible value: 1 contradicts its own coded answer LA9624-3 (2)"
    )
    # A comparator is an interval: nothing to contradict.
    assert (
        ecog({"valueQuantity": {"value": 1, "comparator": "<", "code": "{score}"}}, "LA9624-3")
        is None
    )
    assert ecog({"valueInteger": 1}) is None


@pytest.mark.parametrize(
    ("category", "modality"),
    [
        ({("http://dicom.nema.org/resources/ontology/DCM", "CT")}, "CT"),
        ({("http://dicom.nema.org/resources/ontology/DCM", "XX")}, None),
        ({("http://terminology.hl7.org/CodeSystem/v2-0074", "NMR")}, "MR"),
        ({("http://terminology.hl7.org/CodeSystem/v2-0074", "RUS")}, "US"),
        ({("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB")}, None),
        (
            {
                ("http://dicom.nema.org/resources/ontology/DCM", "MR"),
                ("http://terminology.hl7.org/CodeSystem/v2-0074", "CT"),
            },
            CONFLICTING,
        ),
    ],
)
def test_modality_from_the_category(category: set[tuple[str, str]], modality: str | None) -> None:
    assert modality_of(frozenset(), frozenset(category), None, TERMS) == modality


@pytest.mark.parametrize(
    ("text", "modality"),
    [
        ("MRI pelvis", "MR"),
        ("Magnetic resonance imaging", "MR"),
        ("MRT Becken", "MR"),
        ("computed tomography chest", "CT"),
        ("Koloskopie", "ES"),
        ("Rectoscopy", "ES"),
        ("mrT3 tumour", None),  # a stage, not the word MR
        ("CT and MRI", CONFLICTING),
    ],
)
def test_modality_from_the_text(text: str, modality: str | None) -> None:
    assert modality_of(frozenset(), frozenset(), text, TERMS) == modality
