"""Karnofsky performance status as real systems send it: an integer (mCODE), a Quantity in
"%" (the scale is a percentage), a string "90%", a LOINC LL4986-7 answer, the German
oncology data set's "90%" code. Each is read as the same score; a value off the 0-100
scale, or a number that contradicts its own coded answer, is unknown, never a score."""

from __future__ import annotations

from typing import Any

import pytest

from cds_hooks.eligibility.results import MET, NOT_MET, UNKNOWN
from tests.unit.screen_edits import screen_with_value

KPS_LOINC = "89243-0"
LOINC = "http://loinc.org"
MII_KARNOFSKY = (
    "https://www.medizininformatik-initiative.de/fhir/ext/modul-onko/CodeSystem/"
    "mii-cs-onko-allgemeiner-leistungszustand-karnofsky"
)


def kps_result(value: dict[str, Any]) -> tuple[str, str]:
    """TORCH-E2's "KPS ≥ 70" for its candidate, with the KPS Observation's value replaced."""
    result = screen_with_value("torch_e2_candidate", "torch-e2", "kps", KPS_LOINC, value)
    return result.status, result.reason


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "unit": unit}}


def coded(system: str, code: str) -> dict[str, Any]:
    return {"valueCodeableConcept": {"coding": [{"system": system, "code": code}]}}


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ({"valueInteger": 90}, MET),
        ({"valueInteger": 60}, NOT_MET),
        (quantity(90, "%"), MET),
        (quantity(60, "%"), NOT_MET),
        ({"valueQuantity": {"value": 70, "system": "http://unitsofmeasure.org", "code": "%"}}, MET),
        (quantity(80, "{score}"), MET),
        ({"valueString": "90%"}, MET),
        ({"valueString": "50 %"}, NOT_MET),
        (coded(LOINC, "LA29176-7"), MET),  # 90
        (coded(LOINC, "LA29178-3"), MET),  # 70: at the threshold
        (coded(LOINC, "LA29179-1"), NOT_MET),  # 60
        (coded(MII_KARNOFSKY, "80%"), MET),
        (coded(MII_KARNOFSKY, "40%"), NOT_MET),
    ],
)
def test_each_shape_is_read_as_the_score(value: dict[str, Any], status: str) -> None:
    assert kps_result(value)[0] == status


@pytest.mark.parametrize(
    "value",
    [
        {"valueInteger": 150},
        quantity(120, "%"),
        quantity(0.9, "%"),  # a fraction, not a point of the scale
        {"valueString": "-10"},
        quantity(90, "mg"),
    ],
)
def test_values_off_the_scale_or_in_another_unit_are_unknown(value: dict[str, Any]) -> None:
    status, reason = kps_result(value)
    assert status == UNKNOWN
    assert "KPS" in reason


def test_a_score_contradicting_its_own_answer_is_unknown() -> None:
    value = {
        "valueInteger": 90,
        "interpretation": [{"coding": [{"system": LOINC, "code": "LA29179-1"}]}],  # 60
    }
    status, reason = kps_result(value)
    assert status == UNKNOWN
    assert "contradicts its own coded answer" in reason


def test_a_score_agreeing_with_its_answer_counts() -> None:
    value = {
        "valueInteger": 90,
        "interpretation": [{"coding": [{"system": LOINC, "code": "LA29176-7"}]}],
    }
    assert kps_result(value)[0] == MET
