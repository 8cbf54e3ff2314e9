"""Reading values with the terminology: numbers as text, text and interpretation answers,
precision, reference ranges (text, age, unreadable), plausibility, modality, time of day,
suspected conditions."""

from __future__ import annotations

import math
from datetime import date, time
from typing import Any

import pytest

from fhir_mappings._read import (
    codes_of,
    number_text,
    range_text,
    reference_ranges,
    significant_digits,
)
from fhir_mappings.conditions import parse_condition
from fhir_mappings.facts import LOINC, SNOMED, UCUM, ObservationValue, Quantity
from fhir_mappings.observations import parse_observation
from fhir_mappings.patient import parse_patient
from fhir_mappings.reading import (
    CONFLICTING,
    applicable_ranges,
    implausible,
    modality_of,
    refine_observation,
)
from fhir_mappings.record import build_record
from fhir_mappings.terminology import load_terminology
from fhir_mappings.units import at_precision

TERMS = load_terminology()
PATIENT = parse_patient({"resourceType": "Patient", "id": "p1", "birthDate": "1962-05-14"})


def obs(code: str, system: str = LOINC, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-02-20T07:05:00+01:00",
        **extra,
    }


def read(resource: dict[str, Any]) -> Any:
    return refine_observation(parse_observation(resource), TERMS, PATIENT)


# --------------------------------------------------------------------------- numbers as text
@pytest.mark.parametrize(
    ("text", "value", "unit", "comparator", "digits"),
    [
        ("1.1", 1.1, None, None, 2),
        ("<0.3", 0.3, None, "<", 1),
        (">1000", 1000, None, ">", 4),
        ("≤ 5 mg/dL", 5, "mg/dL", "<=", 1),
        (" 0.030 ", 0.03, None, None, 2),
        ("12 umol/L", 12, "umol/L", None, 2),
    ],
)
def test_number_text(
    text: str, value: float, unit: str | None, comparator: str | None, digits: int
) -> None:
    q = number_text(text)
    assert q == Quantity(value, unit, comparator)
    assert q is not None
    assert q.precision == digits


@pytest.mark.parametrize("text", ["Negative", "1,200", "2+", "", "1.1.1", "nan", "inf"])
def test_text_that_is_not_a_number(text: str) -> None:
    assert number_text(text) is None


def test_value_string_number_becomes_a_quantity_and_keeps_its_text() -> None:
    fact = read(obs("6301-6", valueString="<1.1"))
    assert fact.value.quantity == Quantity(1.1, None, "<")
    assert fact.value.text == "<1.1"


def test_significant_digits_and_rounding_at_precision() -> None:
    assert [significant_digits(v) for v in (6.2, 0.03, 150, "6.20", 1e-300)] == [2, 1, 3, 3, 1]
    assert at_precision(6.2 * 1.611, 2) == 10.0  # haemoglobin 6.2 mmol/L → 10 g/dL
    assert at_precision(9.988, None) == 9.988


# --------------------------------------------------------------------------- reference ranges
@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("3-17 umol/L", 3, 17),
        ("3 - 17", 3, 17),
        ("3.5–5.2 g/dL", 3.5, 5.2),
        ("10 to 40 U/L", 10, 40),
        ("<1.2 mg/dL", None, 1.2),
        ("≤ 40 U/L", None, 40),
        ("> 35 g/L", 35, None),
    ],
)
def test_range_text(text: str, low: float | None, high: float | None) -> None:
    parsed = range_text(text)
    assert parsed is not None
    assert (parsed[0].value if parsed[0] else None, parsed[1].value if parsed[1] else None) == (
        low,
        high,
    )


def test_range_from_text_only_and_unreadable_text_is_a_problem() -> None:
    (good,) = reference_ranges([{"text": "3-17 umol/L"}])
    assert good.high == Quantity(17, "umol/L")
    assert good.problem is None
    (bad,) = reference_ranges([{"text": "see laboratory comment"}])
    assert bad.high is None
    assert bad.problem is not None
    assert "cannot be read" in bad.problem
    (empty,) = reference_ranges([{}])
    assert empty.problem is not None


def test_low_high_win_over_text() -> None:
    (r,) = reference_ranges([{"high": {"value": 1.3, "unit": "mg/dL"}, "text": "normal"}])
    assert r.high == Quantity(1.3, "mg/dL")
    assert r.problem is None


def test_age_specific_ranges_pick_the_patients_age() -> None:
    years = {"system": UCUM, "code": "a"}
    ranges = reference_ranges(
        [
            {
                "high": {"value": 1.2},
                "age": {"low": {"value": 18, **years}, "high": {"value": 59, **years}},
            },
            {"high": {"value": 1.4}, "age": {"low": {"value": 60, **years}}},
        ]
    )
    (chosen,) = applicable_ranges(ranges, 63.0)
    assert chosen.high is not None
    assert chosen.high.value == 1.4
    # Age unknown: the age-specific ranges cannot be used (not silently dropped).
    assert all(r.problem for r in applicable_ranges(ranges, None))
    # No range for this age: one stays, with a problem, so no default table is used.
    (left,) = applicable_ranges(ranges[:1], 70.0)
    assert left.problem == "no reference range given for the patient's age"


def test_age_in_months_and_bad_age_units() -> None:
    (months,) = reference_ranges(
        [{"high": {"value": 1}, "age": {"high": {"value": 24, "code": "mo"}}}]
    )
    assert months.age_high == 2
    (bad,) = reference_ranges([{"high": {"value": 1}, "age": {"high": {"value": 2, "code": "kg"}}}])
    assert bad.problem is not None
    assert "age unit" in bad.problem


# --------------------------------------------------------------------------- answers
@pytest.mark.parametrize(
    ("code", "text", "answer"),
    [
        ("81691-8", "Retained", "LA26197-6"),
        ("81692-6", "  Intact  ", "LA26197-6"),
        ("81693-4", "Loss of expression", "LA26198-4"),
        ("81695-9", "MSS", "LA14122-8"),
        ("81695-9", "MSI-High", "LA26203-2"),
        ("81695-9", "Microsatellite stable (MSS)", "LA14122-8"),  # word and abbreviation
        ("81695-9", "Microsatellite instability-high (MSI-H)", "LA26203-2"),
        ("81695-9", "MSI-L (microsatellite instability-low)", "LA26202-4"),
        ("2106-3", "Negative", "LA6577-6"),
        ("2106-3", "Not detected", "LA6577-6"),
    ],
)
def test_text_answers_become_answer_codes(code: str, text: str, answer: str) -> None:
    fact = read(obs(code, valueString=text))
    assert fact.value.codes == {(LOINC, answer)}


def test_negative_is_not_guessed_for_an_mmr_stain() -> None:
    # For IHC "negative" means loss; for most tests normal. The reader must not choose.
    assert read(obs("81691-8", valueString="Negative")).value.codes == frozenset()


def test_result_only_in_interpretation_counts_when_it_is_an_answer_of_the_test() -> None:
    fact = read(
        obs(
            "81695-9",
            valueQuantity={"value": 38.5, "unit": "%"},
            interpretation=[{"coding": [{"system": LOINC, "code": "LA26203-2"}]}],
        )
    )
    assert (LOINC, "LA26203-2") in fact.value.codes
    # A generic flag (H) is not an MSI answer.
    flagged = read(
        obs(
            "81695-9",
            valueQuantity={"value": 38.5, "unit": "%"},
            interpretation=[{"coding": [{"system": "x", "code": "H"}]}],
        )
    )
    assert flagged.value.codes == frozenset()


def test_components_read_their_text_answers() -> None:
    fact = read(
        obs(
            "117617002",
            SNOMED,
            component=[
                {
                    "code": {"coding": [{"system": LOINC, "code": "81694-2"}]},
                    "valueString": "Retained",
                }
            ],
        )
    )
    assert fact.components[0].value.codes == {(LOINC, "LA26197-6")}


# --------------------------------------------------------------------------- plausibility
@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [
        ("2160-0", 0, "mg/dL"),
        ("2160-0", -3, "mg/dL"),
        ("2160-0", 1e-300, "mg/dL"),
        ("2160-0", 0.5, "umol/L"),  # 0.006 mg/dL
        ("1975-2", -1, "mg/dL"),
        ("1975-2", 0, "umol/L"),
        ("751-8", 1e308, "10*9/L"),
        ("718-7", 60, "g/dL"),
        ("6301-6", 0, "{INR}"),
        ("2160-0", -1, "furlongs"),  # negative is impossible whatever the unit
    ],
)
def test_implausible_values(code: str, value: float, unit: str) -> None:
    fact = read(
        obs(code, valueQuantity={"value": value, "unit": unit, "system": UCUM, "code": unit})
    )
    assert fact.problem is not None
    assert fact.problem.startswith("implausible value")


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [
        ("2160-0", 9.5, "mg/dL"),  # renal failure, real
        ("751-8", 0, "10*9/L"),  # agranulocytosis: ANC 0 happens
        ("1975-2", 25, "mg/dL"),
        ("2160-0", 850, "umol/L"),
        ("2160-0", 3, "furlongs"),  # unit unknown: the engine says so, not "implausible"
    ],
)
def test_plausible_values_are_left_alone(code: str, value: float, unit: str) -> None:
    fact = read(
        obs(code, valueQuantity={"value": value, "unit": unit, "system": UCUM, "code": unit})
    )
    assert fact.problem is None


def test_comparators_are_judged_by_the_interval() -> None:
    creatinine = TERMS.code_set("creatinine")
    assert implausible(ObservationValue(quantity=Quantity(0.1, "mg/dL", "<")), creatinine)
    assert implausible(ObservationValue(quantity=Quantity(0.2, "mg/dL", "<")), creatinine) is None
    assert implausible(ObservationValue(quantity=Quantity(50, "mg/dL", ">")), creatinine)
    assert implausible(ObservationValue(quantity=Quantity(math.inf, "mg/dL")), creatinine)


@pytest.mark.parametrize(("value", "bad"), [(-1, True), (6, True), (0, False), (5, False)])
def test_score_outside_its_scale(value: int, bad: bool) -> None:
    fact = read(obs("89247-1", valueInteger=value))
    assert (fact.problem is not None) is bad


def test_score_between_points_of_the_scale() -> None:
    fact = read(obs("89247-1", valueQuantity={"value": 1.5, "unit": "{score}"}))
    assert fact.problem is not None
    assert "not a point on the ecog scale" in fact.problem


def test_value_contradicting_its_own_coded_answer() -> None:
    fact = read(
        obs(
            "89247-1",
            valueInteger=1,
            interpretation=[{"coding": [{"system": LOINC, "code": "LA9624-3"}]}],
        )
    )
    assert fact.problem is not None
    assert "contradicts its own coded answer LA9624-3" in fact.problem
    agreeing = read(
        obs(
            "89247-1",
            valueInteger=2,
            interpretation=[{"coding": [{"system": LOINC, "code": "LA9624-3"}]}],
        )
    )
    assert agreeing.problem is None


def test_performance_status_codes_of_national_profiles() -> None:
    ecog = TERMS.code_set("ecog")
    assert ecog.matches([(LOINC, "89262-0")])
    assert ecog.matches([(SNOMED, "423740007")])
    assert ecog.answer_value([(SNOMED, "423237006")]) == 4


# --------------------------------------------------------------------------- modality
@pytest.mark.parametrize(
    ("codes", "category", "text", "modality"),
    [
        ({(LOINC, "24867-4")}, set(), None, "MR"),
        ({(LOINC, "24865-8")}, set(), None, "CT"),
        ({(LOINC, "18746-8")}, set(), None, "ES"),
        (set(), {("http://dicom.nema.org/resources/ontology/DCM", "MR")}, None, "MR"),
        (set(), {("http://terminology.hl7.org/CodeSystem/v2-0074", "CT")}, None, "CT"),
        (set(), set(), "MR Pelvis", "MR"),
        (set(), set(), "Flexible sigmoidoscopy", "ES"),
        ({(LOINC, "24867-4")}, set(), "CT abdomen", CONFLICTING),
        (set(), set(), "Pathology report", None),
    ],
)
def test_modality(
    codes: set[tuple[str, str]],
    category: set[tuple[str, str]],
    text: str | None,
    modality: str | None,
) -> None:
    assert modality_of(frozenset(codes), frozenset(category), text, TERMS) == modality


def test_mri_pelvis_code_set_holds_no_ct_codes() -> None:
    mri = TERMS.code_set("mri_pelvis_report")
    assert not mri.matches([(LOINC, "30621-7"), (LOINC, "18747-6")])
    assert mri.matches([(LOINC, "24867-4")])
    assert mri.modality == "MR"


# --------------------------------------------------------------------------- time of day
def test_time_of_day_is_kept_and_orders_same_day_results() -> None:
    early = obs("777-3", valueQuantity={"value": 84, "unit": "10*9/L"})
    late = {**early, "id": "o2", "effectiveDateTime": "2026-02-20T16:40:00+01:00"}
    patient = {"resourceType": "Patient", "id": "p1"}
    record = build_record([patient, early, late])
    assert [o.ref for o in record.observations] == ["Observation/o2", "Observation/o1"]
    assert record.observations[1].time == time(7, 5)
    assert parse_observation({**early, "effectiveDateTime": "2026-02-20"}).time is None


# --------------------------------------------------------------------------- certainty / systems
def condition(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C20"}]},
        "onsetDateTime": "2026-01-20",
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "suspected"),
    [("provisional", True), ("differential", True), ("unconfirmed", True), ("confirmed", False)],
)
def test_suspected_verification_status(status: str, suspected: bool) -> None:
    fact = parse_condition(
        condition(verificationStatus={"coding": [{"system": "x", "code": status}]})
    )
    assert fact.suspected is suspected


@pytest.mark.parametrize(
    ("marker", "suspected", "verification"),
    [("V", True, None), ("A", False, "refuted"), ("G", False, None)],
)
def test_icd10gm_certainty_marker(marker: str, suspected: bool, verification: str | None) -> None:
    coding = {
        "system": "http://fhir.de/CodeSystem/bfarm/icd-10-gm",
        "code": "C20",
        "extension": [
            {
                "url": "http://fhir.de/StructureDefinition/icd-10-gm-diagnosesicherheit",
                "valueCoding": {"code": marker},
            }
        ],
    }
    fact = parse_condition(condition(code={"coding": [coding]}))
    assert (fact.suspected, fact.verification_status) == (suspected, verification)


@pytest.mark.parametrize(
    "system",
    [
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://hl7.org/fhir/sid/icd-10",
        "http://fhir.de/CodeSystem/bfarm/icd-10-gm",
        "http://fhir.de/CodeSystem/dimdi/icd-10-gm",
    ],
)
def test_icd10_family_systems(system: str) -> None:
    assert TERMS.code_set("rectal_cancer_dx").matches([(system, "C20")])
    assert TERMS.code_set("secondary_malignancy_dx").group_of((system, "C78.7")) == "liver"


@pytest.mark.parametrize(
    "system", ["http://terminology.hl7.org/CodeSystem/icd-o-3", "urn:oid:2.16.840.1.113883.6.43.1"]
)
def test_icdo3_under_url_and_oid_is_one_code_system(system: str) -> None:
    """Every histology set answers the same for either name of ICD-O-3: signet ring cell
    carcinoma (8490/3) is one tumour, whichever name the feed used (and, as written under
    the URI, not in the adenocarcinoma set)."""
    signet_ring = codes_of({"coding": [{"system": system, "code": "8490/3"}]})
    squamous = codes_of({"coding": [{"system": system, "code": "8070/3"}]})
    assert TERMS.code_set("adenocarcinoma_histology").matches(
        codes_of({"coding": [{"system": system, "code": "8140/3"}]})
    )
    assert TERMS.code_set("signet_ring_histology").matches(signet_ring)
    assert not TERMS.code_set("adenocarcinoma_histology").matches(signet_ring)
    assert TERMS.code_set("non_adenocarcinoma_histology").matches(squamous)


def test_every_plausibility_limit_has_a_source() -> None:
    limits = [cs for cs in TERMS.code_sets.values() if cs.plausible is not None]
    assert {"creatinine", "total_bilirubin", "anc", "ecog", "hemoglobin"} <= {
        c.name for c in limits
    }
    assert all(
        cs.plausible and cs.plausible.source and cs.plausible.low <= cs.plausible.high
        for cs in limits
    )


def test_dates_unchanged_by_reading() -> None:
    assert read(obs("2160-0", valueQuantity={"value": 1, "unit": "mg/dL"})).date == date(
        2026, 2, 20
    )
