"""build_record reads most results without adding anything (no answer to read, no range to
choose, a plausible value): those facts are the parsed ones, unchanged. Each such shortcut
is paired here with an input that needs the work it skips, and both must give the answer
the full reading gives."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.facts import LOINC, SNOMED, UCUM
from fhir_mappings.observations import parse_observation
from fhir_mappings.record import build_record
from tests.unit.test_record import PATIENT, obs

MSI_HIGH = (LOINC, "LA26203-2")
RETAINED = (LOINC, "LA26197-6")


def read(resource: dict[str, Any], patient: dict[str, Any] = PATIENT) -> Any:
    record = build_record([patient, resource])
    assert record.skipped == ()
    (fact,) = record.observations
    return fact


def answer(oid: str, concept: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    """An Observation of `concept` whose value[x] is `value` (the helper's quantity left out)."""
    resource = {**obs(oid, "2026-02-01", code=concept), **value}
    if "valueQuantity" not in value:
        del resource["valueQuantity"]
    return resource


def code(value: str, system: str = LOINC) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": value}]}


# --------------------------------------------------------------------------- nothing to add
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"referenceRange": [{"low": {"value": 12, "code": "g/dL"}, "high": {"value": 16}}]},
        {"interpretation": [code("N", "http://terminology.hl7.org/CodeSystem/v3-Obs")]},
        {"component": [{"code": code("8480-6"), "valueQuantity": {"value": 120}}]},
        {"effectiveDateTime": "2026-02-01T08:30:00+01:00"},
    ],
)
def test_a_result_with_nothing_to_add_is_the_parsed_fact(extra: dict[str, Any]) -> None:
    resource = obs("a", "2026-02-01", **extra)
    assert read(resource) == parse_observation(resource)


# --------------------------------------------------------------------------- answers
@pytest.mark.parametrize(
    "value",
    [
        {"valueCodeableConcept": code(MSI_HIGH[1])},
        {"valueCodeableConcept": {"text": "MSI-High"}},
        {"valueString": " msi-high "},
        {
            "valueQuantity": {"value": 38.5, "system": UCUM, "code": "%"},
            "interpretation": [code(MSI_HIGH[1])],
        },
    ],
)
def test_an_answer_coded_as_text_or_in_interpretation_reads_the_same(
    value: dict[str, Any],
) -> None:
    assert read(answer("msi", code("81695-9"), value)).value.codes == {MSI_HIGH}


def test_an_answer_read_against_no_code_set_stays_text() -> None:
    # Hemoglobin has no answers: "MSI-High" as its value is text, and no code is invented.
    fact = read(answer("a", code("718-7"), {"valueString": "MSI-High"}))
    assert (fact.value.codes, fact.value.text) == (frozenset(), "MSI-High")


def test_a_component_answer_reads_the_same_coded_or_as_text() -> None:
    def panel(component_value: dict[str, Any]) -> dict[str, Any]:
        component = [{"code": code("81694-2"), **component_value}]
        return answer("mmr", code("117617002", SNOMED), {"component": component})

    coded = read(panel({"valueCodeableConcept": code(RETAINED[1])}))
    text = read(panel({"valueString": "Retained"}))
    assert coded.components[0].value.codes == text.components[0].value.codes == {RETAINED}
    assert text.components[0].value.text == "Retained"


# --------------------------------------------------------------------------- ranges
AGED = {"low": {"value": 11}, "high": {"value": 15, "code": "g/dL"}}


@pytest.mark.parametrize(
    ("ranges", "kept", "problem"),
    [
        ([{"high": {"value": 16}}], [16.0], None),
        ([{**AGED, "age": {"low": {"value": 50, "code": "a"}}}], [15.0], None),  # applies
        (
            [
                {**AGED, "age": {"high": {"value": 50, "code": "a"}}},  # another age group
                {"high": {"value": 16}},
            ],
            [16.0],
            None,
        ),
        (
            [{**AGED, "age": {"high": {"value": 50, "code": "a"}}}],
            [15.0],
            "no reference range given for the patient's age",
        ),
    ],
)
def test_only_the_ranges_for_the_patients_age_are_kept(
    ranges: list[dict[str, Any]], kept: list[float], problem: str | None
) -> None:
    # The patient is 59 on 2026-02-01.
    fact = read(obs("a", "2026-02-01", referenceRange=ranges))
    assert [r.high.value for r in fact.reference_ranges if r.high] == kept
    assert [r.problem for r in fact.reference_ranges] == [problem]


def test_an_age_specific_range_for_a_patient_of_unknown_age_is_kept_with_a_problem() -> None:
    fact = read(
        obs("a", "2026-02-01", referenceRange=[{**AGED, "age": {"low": {"value": 18}}}]),
        patient={**PATIENT, "birthDate": "1966"},
    )
    assert [r.problem for r in fact.reference_ranges] == [
        "age-specific reference range; patient age unknown"
    ]


# --------------------------------------------------------------------------- plausibility
@pytest.mark.parametrize(
    ("quantity", "problem"),
    [
        ({"value": 1.0, "code": "g/dL"}, None),
        ({"value": 26.0, "code": "g/dL"}, None),
        ({"value": 260, "code": "g/L"}, None),
        ({"value": 3, "code": "furlongs"}, None),  # the unit is the engine's to refuse
        (
            {"value": -1, "code": "g/dL"},
            "implausible value: -1 g/dL is outside the physiological limits 1–26 g/dL",
        ),
        (
            {"value": 0, "code": "g/dL"},
            "implausible value: 0 g/dL is outside the physiological limits 1–26 g/dL",
        ),
        (
            {"value": 26.5, "code": "g/dL"},
            "implausible value: 26.5 g/dL is outside the physiological limits 1–26 g/dL",
        ),
        (
            {"value": 1, "code": "g/dL", "comparator": "<"},
            "implausible value: <1 g/dL is outside the physiological limits 1–26 g/dL",
        ),
        ({"value": 1, "code": "g/dL", "comparator": "<="}, None),
    ],
)
def test_an_implausible_value_is_named_and_a_plausible_one_left_as_parsed(
    quantity: dict[str, Any], problem: str | None
) -> None:
    resource = obs("a", "2026-02-01", valueQuantity={"system": UCUM, **quantity})
    fact = read(resource)
    assert fact.problem == problem
    if problem is None:
        assert fact == parse_observation(resource)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"valueInteger": 5}, None),
        (
            {"valueInteger": 6},
            "implausible value: 6 is outside the physiological limits 0–5 {score}",
        ),
        (
            {"valueQuantity": {"value": 1.5, "system": UCUM, "code": "{score}"}},
            "implausible value: 1.5 {score} is not a point on the ecog scale",
        ),
        (
            {"valueInteger": 1, "interpretation": [code("LA9624-3")]},
            "implausible value: 1 contradicts its own coded answer LA9624-3 (2)",
        ),
        ({"valueInteger": 1, "interpretation": [code("LA9623-5")]}, None),
    ],
)
def test_a_score_off_its_scale_or_against_its_own_answer_is_named(
    value: dict[str, Any], problem: str | None
) -> None:
    assert read(answer("ecog", code("89247-1"), value)).problem == problem


def test_the_parsers_problem_and_implausibility_are_both_named() -> None:
    resource = obs("a", "2026-02", valueQuantity={"value": -1, "system": UCUM, "code": "g/dL"})
    assert read(resource).problem == (
        "effective date is not a full date ('2026-02', precision month); "
        "implausible value: -1 g/dL is outside the physiological limits 1–26 g/dL"
    )


# --------------------------------------------------------------------------- modality
def test_a_modality_is_added_to_an_otherwise_unchanged_result() -> None:
    resource = answer("mri", code("24867-4"), {"valueString": "Tumour 6 cm from the anal verge"})
    fact = read(resource)
    assert fact.modality == "MR"
    assert parse_observation(resource).modality is None
