"""Reading facts with the terminology, whole: the parser's problem kept beside the reader's
own, modality on Observations and DiagnosticReports (code, category, text), and facts that
need nothing added returned as they are."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.facts import LOINC
from fhir_mappings.observations import parse_observation
from fhir_mappings.patient import parse_patient
from fhir_mappings.reading import CONFLICTING, refine_observation, refine_report
from fhir_mappings.record import build_record
from fhir_mappings.reports import parse_report
from fhir_mappings.terminology import load_terminology

TERMS = load_terminology()
PATIENT = parse_patient({"resourceType": "Patient", "id": "p1", "birthDate": "1962-05-14"})
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
MRI_PELVIS = "24867-4"
CT = "24627-2"
ENDOSCOPY = "18746-8"
HL7_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def obs(code: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": code,
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-02-20T07:05:00+01:00",
        **extra,
    }


def loinc(code: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": LOINC, "code": code}]}
    if text is not None:
        concept["text"] = text
    return concept


def refine(resource: dict[str, Any]) -> Any:
    return refine_observation(parse_observation(resource), TERMS, PATIENT)


def report(code: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "code": code,
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-02-10",
        "conclusion": "Tumour 5 cm from the anal verge.",
        **extra,
    }


# --------------------------------------------------------------------------- problems
def test_the_parsers_problem_is_kept_when_the_value_is_fine() -> None:
    # A partial effective date is the parser's problem; a plausible creatinine adds none.
    fact = refine(
        obs(
            loinc("2160-0"),
            effectiveDateTime="2026-02",
            valueQuantity={"value": 0.9, "unit": "mg/dL"},
        )
    )
    assert fact.problem == "effective date is not a full date ('2026-02', precision month)"


def test_the_parsers_problem_and_the_readers_are_joined() -> None:
    fact = refine(
        obs(
            loinc("2160-0"),
            effectiveDateTime="2026-02",
            valueQuantity={"value": -1, "unit": "mg/dL"},
        )
    )
    assert fact.problem == (
        "effective date is not a full date ('2026-02', precision month); "
        "implausible value: -1 mg/dL is outside the physiological limits 0.1–40 mg/dL"
    )


def test_an_implausible_value_alone() -> None:
    fact = refine(obs(loinc("2160-0"), valueQuantity={"value": -1, "unit": "mg/dL"}))
    assert fact.problem == (
        "implausible value: -1 mg/dL is outside the physiological limits 0.1–40 mg/dL"
    )


# --------------------------------------------------------------------------- modality
@pytest.mark.parametrize(
    ("code", "category", "modality"),
    [
        (loinc(MRI_PELVIS), None, "MR"),
        (loinc(CT), None, "CT"),
        (loinc(ENDOSCOPY), None, "ES"),
        ({"text": "MRI pelvis"}, None, "MR"),
        (
            {
                "coding": [
                    {"system": "http://hospital.example", "code": "X", "display": "CT thorax"}
                ]
            },
            None,
            "CT",
        ),
        ({"text": "Imaging"}, [{"coding": [{"system": DICOM, "code": "MR"}]}], "MR"),
        ({"text": "Imaging"}, [{"coding": [{"system": V2_0074, "code": "RUS"}]}], "US"),
        (loinc(MRI_PELVIS, "CT abdomen"), None, CONFLICTING),
        ({"text": "Pathology"}, None, None),
    ],
)
def test_modality_of_a_report(
    code: dict[str, Any], category: list[dict[str, Any]] | None, modality: str | None
) -> None:
    extra = {"category": category} if category is not None else {}
    fact = refine_report(parse_report(report(code, **extra)), TERMS)
    assert fact.modality == modality
    # The record reads reports the same way.
    record = build_record(
        [{"resourceType": "Patient", "id": "p1"}, report(code, **extra)], terminology=TERMS
    )
    assert [r.modality for r in record.reports] == [modality]


def test_refining_a_report_changes_only_its_modality() -> None:
    parsed = parse_report(report(loinc(MRI_PELVIS)))
    refined = refine_report(parsed, TERMS)
    assert refined.modality == "MR"
    assert (refined.ref, refined.codes, refined.date, refined.conclusion) == (
        parsed.ref,
        parsed.codes,
        parsed.date,
        parsed.conclusion,
    )


@pytest.mark.parametrize(
    ("code", "modality"),
    [
        (loinc(MRI_PELVIS), "MR"),
        ({"text": "MRT Becken"}, "MR"),
        (
            {
                "coding": [
                    {"system": "http://hospital.example", "code": "K", "display": "Koloskopie"}
                ]
            },
            "ES",
        ),
        ({"text": "Creatinine"}, None),
    ],
)
def test_modality_of_an_observation(code: dict[str, Any], modality: str | None) -> None:
    fact = refine(obs(code, valueString="Tumour 5 cm from the anal verge"))
    assert fact.modality == modality


# --------------------------------------------------------------------------- nothing to add
def test_a_fact_that_needs_nothing_is_returned_as_it_is() -> None:
    parsed = parse_observation(
        obs(
            loinc("2160-0"),
            valueQuantity={"value": 0.9, "unit": "mg/dL"},
            interpretation=[{"coding": [{"system": HL7_INTERPRETATION, "code": "N"}]}],
            referenceRange=[{"low": {"value": 0.6}, "high": {"value": 1.2}}],
        )
    )
    assert refine_observation(parsed, TERMS, PATIENT) is parsed


def test_components_that_need_nothing_leave_the_fact_as_it_is() -> None:
    parsed = parse_observation(
        obs(
            loinc("85354-9"),  # blood pressure panel
            component=[
                {"code": loinc("8480-6"), "valueQuantity": {"value": 120, "unit": "mm[Hg]"}},
                {"code": loinc("8462-4"), "valueQuantity": {"value": 80, "unit": "mm[Hg]"}},
            ],
        )
    )
    refined = refine_observation(parsed, TERMS, PATIENT)
    assert refined is parsed


def test_only_the_component_with_a_text_answer_is_replaced() -> None:
    parsed = parse_observation(
        obs(
            {"coding": [{"system": "http://snomed.info/sct", "code": "117617002"}]},
            component=[
                {"code": loinc("8480-6"), "valueQuantity": {"value": 120, "unit": "mm[Hg]"}},
                {"code": loinc("81694-2"), "valueString": "Retained"},
            ],
        )
    )
    refined = refine_observation(parsed, TERMS, PATIENT)
    first, second = refined.components
    assert first is parsed.components[0]
    assert second.value.codes == {(LOINC, "LA26197-6")}
    assert second.value.text == "Retained"
    assert second.codes == parsed.components[1].codes


# --------------------------------------------------------------------------- plausibility
def quantity_value(value: float, unit: str | None, comparator: str | None = None) -> Any:
    from fhir_mappings.facts import ObservationValue, Quantity

    return ObservationValue(quantity=Quantity(value, unit, comparator))


@pytest.mark.parametrize("unit", [None, "furlongs"])
@pytest.mark.parametrize(
    ("analyte", "limits"),
    [("creatinine", "0.1–40 mg/dL"), ("total_bilirubin", "0–80 mg/dL"), ("alt", "0–30000 U/L")],
)
def test_zero_is_impossible_in_any_unit_when_the_limit_excludes_it(
    analyte: str, limits: str, unit: str | None
) -> None:
    # Creatinine's lowest plausible value is above zero, bilirubin's and ALT's lower limit
    # is exclusive: a zero is an error whatever the unit, readable or not.
    from fhir_mappings.reading import implausible

    shown = "0" if unit is None else f"0 {unit}"
    assert implausible(quantity_value(0, unit), TERMS.code_set(analyte)) == (
        f"implausible value: {shown} is outside the physiological limits {limits}"
    )


@pytest.mark.parametrize("analyte", ["alt", "ast"])
def test_enzymes_in_international_units_are_judged_as_u_per_l(analyte: str) -> None:
    from fhir_mappings.reading import implausible

    code_set = TERMS.code_set(analyte)
    assert implausible(quantity_value(40, "[IU]/L"), code_set) is None
    high = code_set.plausible.high if code_set.plausible else 0
    assert implausible(quantity_value(high * 10, "[IU]/L"), code_set) == (
        f"implausible value: {high * 10:g} [IU]/L is outside the physiological limits "
        f"0–{high:g} U/L"
    )


@pytest.mark.parametrize(
    ("value", "comparator", "bad"),
    [
        (1000, "<=", False),  # at most 1000: says nothing impossible
        (1000, "<", False),
        (0.01, "<=", True),  # at most 0.01: below every possible creatinine
        (0.1, "<=", False),  # at most the lowest possible value: possible
        (0.1, "<", True),
        (0.01, ">=", False),  # at least 0.01: possible
        (0.01, ">", False),
        (1000, ">=", True),
        (40, ">=", False),  # at least the highest possible value: possible
        (40, ">", True),
    ],
)
def test_comparators_of_both_kinds_against_creatinine_limits(
    value: float, comparator: str, bad: bool
) -> None:
    from fhir_mappings.reading import implausible

    why = implausible(quantity_value(value, "mg/dL", comparator), TERMS.code_set("creatinine"))
    assert (why is not None) is bad
    if bad:
        assert why == (
            f"implausible value: {comparator}{value:g} mg/dL is outside the physiological "
            "limits 0.1–40 mg/dL"
        )
