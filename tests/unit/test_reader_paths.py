"""Reader paths, value by value: Condition statuses from mixed codings, national
certainty markers, onset forms; MedicationRequest / Statement fields and the text a drug is
recognised from; every Observation value type and what makes it unusable."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.conditions import ICD10GM_CERTAINTY, parse_condition
from fhir_mappings.facts import ATC, LOINC, RXNORM, UCUM, ObservationValue, Quantity
from fhir_mappings.medications import load_ingredient_map, parse_medication
from fhir_mappings.observations import parse_observation
from tests.unit.test_conditions import CLINICAL, VERIFICATION, rectal_cancer

ICD10GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"


def gm_condition(marker: Any, *, url: str = ICD10GM_CERTAINTY, **extra: Any) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": ICD10GM, "code": "C20"}
    if marker is not None:
        coding["extension"] = [{"url": url, **marker}]
    return rectal_cancer(code={"coding": [coding]}, **extra)


@pytest.mark.parametrize(
    ("marker", "verification", "suspected"),
    [
        ({"valueCoding": {"code": "G"}}, "confirmed", False),
        ({"valueCoding": {"code": "V"}}, "confirmed", True),
        ({"valueCode": "v"}, "confirmed", True),
        ({"valueCoding": {"code": " Z "}}, "confirmed", False),
        ({"valueCoding": {"code": "A"}}, "confirmed", True),  # excluded yet "confirmed"
        ({"valueCoding": {"code": 7}}, "confirmed", False),
    ],
)
def test_icd10gm_certainty_with_a_confirmed_status(
    marker: dict[str, Any], verification: str, suspected: bool
) -> None:
    fact = parse_condition(gm_condition(marker))
    assert (fact.verification_status, fact.suspected) == (verification, suspected)


def test_icd10gm_excluded_without_a_status_is_refuted() -> None:
    fact = parse_condition(gm_condition({"valueCode": "A"}, verificationStatus=None))
    assert (fact.verification_status, fact.suspected) == ("refuted", False)
    https = gm_condition(
        {"valueCode": "A"},
        url=ICD10GM_CERTAINTY.replace("http://", "https://"),
        verificationStatus=None,
    )
    assert parse_condition(https).verification_status == "refuted"
    other = gm_condition({"valueCode": "A"}, url="http://example.org/x", verificationStatus=None)
    assert parse_condition(other).verification_status is None
    assert parse_condition(gm_condition(None, verificationStatus=None)).suspected is False


@pytest.mark.parametrize("status", ["provisional", "differential", "unconfirmed"])
def test_suspected_verification_statuses(status: str) -> None:
    fact = parse_condition(
        rectal_cancer(verificationStatus={"coding": [{"system": VERIFICATION, "code": status}]})
    )
    assert (fact.verification_status, fact.suspected) == (status, True)


def test_a_status_coding_without_a_code_falls_back_to_the_first_code_read_as_fhirs() -> None:
    fact = parse_condition(
        rectal_cancer(
            clinicalStatus={
                "coding": [{"system": "urn:epic", "code": "Active"}, {"system": CLINICAL}]
            },
        )
    )
    assert fact.clinical_status == "active"  # Epic's "Active" is FHIR's "active"


@pytest.mark.parametrize(
    ("extra", "expected", "problem"),
    [
        ({"onsetDateTime": "2019", "recordedDate": "2020-02-03"}, date(2020, 2, 3), None),
        ({"onsetDateTime": None, "onsetPeriod": {"start": "2021-05-06"}}, date(2021, 5, 6), None),
        (
            {"onsetDateTime": "2019", "recordedDate": None},
            None,
            "onset date is not a full date ('2019', precision year)",
        ),
        ({"onsetDateTime": "garbage", "recordedDate": None}, None, "onset date"),
    ],
)
def test_condition_onset_forms(
    extra: dict[str, Any], expected: date | None, problem: str | None
) -> None:
    fact = parse_condition(rectal_cancer(**extra))
    assert fact.date == expected
    if problem is None:
        assert fact.problem is None
    else:
        assert fact.problem is not None
        assert fact.problem.startswith(problem)


def test_condition_fields() -> None:
    fact = parse_condition(rectal_cancer())
    assert fact.ref == "Condition/crc"
    assert fact.display == "Rectal adenocarcinoma"
    assert fact.body_sites == {("http://snomed.info/sct", "34402009")}
    assert fact.category == {
        ("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")
    }
    assert fact.profiles == {
        "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"
    }
    no_id = parse_condition(rectal_cancer(id=""))
    assert (no_id.ref, no_id.problem) == ("Condition/(no id)", "the resource has no id")


# --------------------------------------------------------------------------- medications
def request(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "rx",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2026-01-20",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def test_medication_fields() -> None:
    fact = parse_medication(
        request(medicationCodeableConcept={"coding": [{"system": ATC, "code": "B01AF02"}]}), {}
    )
    assert (fact.ref, fact.resource_type, fact.status, fact.intent) == (
        "MedicationRequest/rx",
        "MedicationRequest",
        "active",
        "order",
    )
    assert fact.date == date(2026, 1, 20)
    assert fact.problem is None
    assert (ATC, "B01AF02") in fact.codes
    assert fact.possible_drugs == ()
    odd = parse_medication(request(status=3, intent=["order"], id=None), {})
    assert (odd.status, odd.intent, odd.ref) == (None, None, "MedicationRequest/(no id)")
    assert odd.problem is not None
    assert odd.problem.startswith("the resource has no id; ")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"authoredOn": None, "effectiveDateTime": "2025-11-02"}, date(2025, 11, 2)),
        ({"authoredOn": None, "effectivePeriod": {"start": "2025-10-01"}}, date(2025, 10, 1)),
        ({"authoredOn": "2025", "dateAsserted": "2025-12-24"}, date(2025, 12, 24)),
        ({"authoredOn": None}, None),
    ],
)
def test_medication_dates(extra: dict[str, Any], expected: date | None) -> None:
    assert parse_medication(request(**extra), {}).date == expected


def test_a_drug_is_recognised_from_display_text_when_no_code_is_known() -> None:
    concept = {
        "coding": [{"system": "urn:local", "code": "X1", "display": "Eliquis 5mg tab"}],
    }
    fact = parse_medication(request(medicationCodeableConcept=concept), {})
    assert fact.possible_drugs == ("apixaban",)
    assert (RXNORM, "1364430") in fact.possible_codes
    assert (ATC, "B01AF02") in fact.possible_codes
    # A recognised code (any ATC code, or one of the map's) means the text is not read.
    known = {
        "coding": [{"system": ATC, "code": "C08CA01"}],
        "text": "amlodipine (not apixaban)",
    }
    assert parse_medication(request(medicationCodeableConcept=known), {}).possible_drugs == ()


def test_names_match_whole_words_only() -> None:
    drugs = load_ingredient_map()
    assert drugs.named_in(["Warfarin sodium 5 mg"]) == ("warfarin",)
    assert drugs.named_in(["superwarfarinoid"]) == ()
    assert drugs.named_in(["APIXABAN", "eliquis"]) == ("apixaban",)


def test_a_referenced_medication_adds_its_texts_and_display() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m",
        "code": {"coding": [{"system": "urn:local", "code": "Z", "display": "Eliquis"}]},
    }
    fact = parse_medication(
        request(medicationReference={"reference": "Medication/m", "display": "ordered drug"}),
        {"Medication/m": medication},
    )
    assert fact.display == "Eliquis"
    assert fact.possible_drugs == ("apixaban",)
    unresolved = parse_medication(
        request(medicationReference={"reference": "Medication/gone", "display": "apixaban"}), {}
    )
    assert unresolved.display == "apixaban"
    assert unresolved.problem == "its Medication Medication/gone could not be resolved"
    empty = parse_medication(request(medicationReference={"display": "x"}), {})
    assert empty.problem == "its Medication (no reference) could not be resolved"


# --------------------------------------------------------------------------- observations
def observation(**value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "718-7"}]},
        "effectiveDateTime": "2026-02-01",
        **value,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueInteger": 2}, ObservationValue(integer=2)),
        ({"valueBoolean": False}, ObservationValue(boolean=False)),
        ({"valueString": "positive"}, ObservationValue(text="positive")),
        (
            {"valueCodeableConcept": {"text": "Retained"}},
            ObservationValue(text="Retained"),
        ),
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"system": LOINC, "code": "LA6576-8"}],
                    "text": "",
                }
            },
            ObservationValue(codes=frozenset({(LOINC, "LA6576-8")})),
        ),
        (
            {"valueQuantity": {"value": 12, "system": UCUM, "code": "g/dL"}},
            ObservationValue(quantity=Quantity(12.0, "g/dL")),
        ),
        (
            {"valueQuantity": {"value": 12, "system": "urn:local", "code": "GPDL", "unit": "g/dL"}},
            ObservationValue(quantity=Quantity(12.0, "g/dL")),
        ),
        ({}, ObservationValue()),
    ],
)
def test_observation_value_types(value: dict[str, Any], expected: ObservationValue) -> None:
    fact = parse_observation(observation(**value))
    assert fact.value == expected
    assert fact.problem is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"valueInteger": 2.0}, "valueInteger 2.0 is not an integer"),
        ({"valueInteger": "2"}, "valueInteger '2' is not an integer"),
        ({"valueBoolean": "false"}, "valueBoolean 'false' is not a boolean"),
        ({"valueString": 5}, "valueString 5 is not a string"),
        (
            {"valueCodeableConcept": {"coding": []}},
            "valueCodeableConcept has neither a coding nor text",
        ),
        ({"valueQuantity": {"value": "12 mg"}}, "quantity value '12 mg' is not a number"),
        ({"valueQuantity": {"value": True}}, "quantity value True is not a number"),
        ({"valueRange": {}}, "valueRange is not a value type eligibility reads"),
        ({"valuePeriod": {}}, "valuePeriod is not a value type eligibility reads"),
        ({"valueInteger": "x" * 60}, "valueInteger '" + "x" * 36 + "... is not an integer"),
    ],
)
def test_unusable_values_say_why(value: dict[str, Any], problem: str) -> None:
    fact = parse_observation(observation(**value))
    assert fact.value == ObservationValue()
    assert fact.problem == problem


@pytest.mark.parametrize(
    ("absent", "reason"),
    [
        ({"text": "Sample haemolysed"}, "Sample haemolysed"),
        ({"coding": [{"code": "not-performed", "display": "Not performed"}]}, "Not performed"),
        ({"coding": [{"code": "error"}]}, "error"),
        ({}, "data absent"),
    ],
)
def test_data_absent_reason_text(absent: dict[str, Any], reason: str) -> None:
    fact = parse_observation(observation(dataAbsentReason=absent))
    assert fact.value.data_absent_reason == reason


def test_the_time_of_day_comes_from_the_effective_moment() -> None:
    timed = parse_observation(observation(effectiveDateTime="2026-02-01T08:30:15+01:00"))
    assert timed.time is not None
    assert (timed.time.hour, timed.time.minute, timed.time.second) == (8, 30, 15)
    period = observation(effectiveDateTime=None, effectivePeriod={"start": "2026-02-01T07:05:00Z"})
    del period["effectiveDateTime"]
    started = parse_observation(period)
    assert started.time is not None
    assert (started.time.hour, started.time.minute) == (7, 5)
    untimed = parse_observation(observation())
    assert untimed.time is None
