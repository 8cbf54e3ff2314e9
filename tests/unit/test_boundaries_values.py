"""Exact boundaries of the value comparisons: every threshold operator against every FHIR
comparator, with the reported endpoint just below, at, and just above the threshold.

A reading with a comparator is an interval ("<10" is every value below 10): the criterion is
met only when every value of the interval meets it, not_met when none does, else unknown.
The expected statuses are written out by hand, one row per case, not computed.
"""

from __future__ import annotations

import pytest

from cds_hooks.eligibility.values import (
    Reading,
    Undecidable,
    compare,
    convert_quantity,
    fmt,
    read_number,
)
from fhir_mappings.facts import LOINC, ObservationValue, Quantity
from fhir_mappings.terminology import CodeSet, load_terminology

TERMINOLOGY = load_terminology()
ALT = TERMINOLOGY.code_sets["alt"]  # U/L, [IU]/L treated as U/L
ECOG = TERMINOLOGY.code_sets["ecog"]  # {score}, coded answers
INR = TERMINOLOGY.code_sets["inr"]  # {INR}
CREATININE = TERMINOLOGY.code_sets["creatinine"]  # mg/dL, molar mass

M, N, U = "met", "not_met", "unknown"

# (comparator, op) → statuses for a reported endpoint of 9, 10 and 11 against threshold 10.
TABLE: dict[tuple[str | None, str], tuple[str, str, str]] = {
    (None, ">="): (N, M, M),
    (None, ">"): (N, N, M),
    (None, "<="): (M, M, N),
    (None, "<"): (M, N, N),
    # "<x": every value below x.
    ("<", ">="): (N, N, U),
    ("<", ">"): (N, N, U),
    ("<", "<="): (M, M, U),
    ("<", "<"): (M, M, U),
    # "<=x": x itself is possible.
    ("<=", ">="): (N, U, U),
    ("<=", ">"): (N, N, U),
    ("<=", "<="): (M, M, U),
    ("<=", "<"): (M, U, U),
    # ">x": every value above x.
    (">", ">="): (U, M, M),
    (">", ">"): (U, M, M),
    (">", "<="): (U, N, N),
    (">", "<"): (U, N, N),
    # ">=x": x itself is possible.
    (">=", ">="): (U, M, M),
    (">=", ">"): (U, U, M),
    (">=", "<="): (U, U, N),
    (">=", "<"): (U, N, N),
}
CASES = [
    (comparator, op, endpoint, expected)
    for (comparator, op), statuses in TABLE.items()
    for endpoint, expected in zip((9.0, 10.0, 11.0), statuses, strict=True)
]


@pytest.mark.parametrize(("comparator", "op", "endpoint", "expected"), CASES)
def test_every_comparator_against_every_operator_at_the_boundary(
    comparator: str | None, op: str, endpoint: float, expected: str
) -> None:
    assert compare(endpoint, comparator, op, 10.0) == expected


@pytest.mark.parametrize(("op", "expected"), [(">=", M), (">", N), ("<=", M), ("<", N)])
def test_float_noise_around_zero_is_the_threshold_itself(op: str, expected: str) -> None:
    # 0.1 + 0.2 - 0.3 is 5.6e-17, not 0: a computed value "exactly at 0" is at the threshold.
    assert compare(0.1 + 0.2 - 0.3, None, op, 0.0) == expected


def test_a_real_difference_is_not_float_noise() -> None:
    assert compare(10.0000001, None, ">", 10.0) == M
    assert compare(9.9999999, None, ">=", 10.0) == N
    assert compare(1e-9, None, "<=", 0.0) == N


def test_fmt_writes_numbers_for_people() -> None:
    assert fmt(100.0) == "100"
    assert fmt(-3.0) == "-3"
    assert fmt(1.5) == "1.5"
    assert fmt(0.3333333) == "0.333"
    assert fmt(12.3456) == "12.35"
    # From 10⁹ on, the integer form would hide the magnitude.
    assert fmt(1e9) == "1e+09"
    assert fmt(999_999_999.0) == "999999999"


def value(q: float, unit: str | None, comparator: str | None = None) -> ObservationValue:
    return ObservationValue(quantity=Quantity(q, unit, comparator))


def test_enzyme_units_the_analyte_treats_as_one_are_converted() -> None:
    assert convert_quantity(Quantity(40.0, "[IU]/L"), "U/L", ALT) == 40.0
    reading = read_number(value(40.0, "U/L", ">"), "U/L", ALT)
    assert (reading.value, reading.comparator, reading.converted) == (40.0, ">", False)


def test_substance_to_mass_uses_the_analytes_molar_mass() -> None:
    reading = read_number(value(88.4, "umol/L"), "mg/dL", CREATININE)
    assert reading.value == pytest.approx(1.0, rel=1e-3)
    assert reading.converted is True
    assert (reading.shown_value, reading.shown_unit) == (88.4, "umol/L")


HEMOGLOBIN = TERMINOLOGY.code_sets["hemoglobin"]
BILIRUBIN = TERMINOLOGY.code_sets["total_bilirubin"]


def reported(value: float, unit: str, digits: int, to: str, code_set: CodeSet) -> Reading:
    quantity = Quantity(value, unit, precision=digits)
    return read_number(ObservationValue(quantity=quantity), to, code_set)


def test_a_converted_value_that_is_the_threshold_as_the_lab_writes_it_is_the_threshold() -> None:
    # 6.2 mmol/L haemoglobin is 9.99 g/dL: "10 g/dL" in that lab's unit.
    hb = reported(6.2, "mmol/L", 2, "g/dL", HEMOGLOBIN)
    assert hb.value == pytest.approx(9.991, abs=1e-3)
    assert hb.compared_with(10.0) == 10.0
    assert compare(hb.compared_with(10.0), None, ">=", 10.0) == "met"
    # Against any other threshold it is the converted value.
    assert hb.compared_with(9.995) == hb.value
    assert hb.compared_with(11.0) == hb.value
    # 6.1 mmol/L (9.83 g/dL) rounds to 9.8, not 10: below the threshold.
    assert reported(6.1, "mmol/L", 2, "g/dL", HEMOGLOBIN).compared_with(10.0) < 10.0


def test_rounding_to_one_reported_digit_does_not_move_a_value_across_a_threshold() -> None:
    # 0.8 mg/dL bilirubin (one digit) is 13.68 umol/L; one digit would make it 10.
    bili = reported(0.8, "mg/dL", 1, "umol/L", BILIRUBIN)
    assert bili.value == pytest.approx(13.683, abs=1e-3)
    assert bili.compared_with(10.0) == bili.value
    assert compare(bili.compared_with(10.0), None, "<=", 10.0) == "not_met"
    # 0.6 mg/dL is 10.26 umol/L: 10 lies within its reported half-digit (9.4 to 11.1).
    assert reported(0.6, "mg/dL", 1, "umol/L", BILIRUBIN).compared_with(10.0) == 10.0


def test_a_one_digit_value_that_rounds_onto_the_threshold_within_its_band_is_the_threshold() -> (
    None
):
    # "1 mg/dL" creatinine (one digit: 0.5 to 1.5) is 88.4 umol/L, and 90 at one digit.
    one = reported(1.0, "mg/dL", 1, "umol/L", CREATININE)
    assert one.value == pytest.approx(88.40, abs=0.01)
    assert one.compared_with(90.0) == 90.0
    # 0.7 mg/dL bilirubin is 11.97 umol/L: 10 at one digit, but outside 0.65 to 0.75 mg/dL
    # (11.1 to 12.8 umol/L).
    bili = reported(0.7, "mg/dL", 1, "umol/L", BILIRUBIN)
    assert bili.compared_with(10.0) == pytest.approx(11.97, abs=0.01)


@pytest.mark.parametrize(
    ("value", "shown", "digits", "expected"),
    [
        # Half a unit of the last reported digit (0.05 for "0.64" read at one digit, ×16.875
        # converted = 0.84) covers 10.8 → 10.
        (10.8, 0.64, 1, 10.0),
        # Exactly half a unit away (0.05 of "1.05" at two digits, ×10 = 0.5) still counts.
        (10.5, 1.05, 2, 10.0),
        # A converted value of unknown precision is never rounded, however close.
        (10.000000000001, 1.0, None, 10.000000000001),
    ],
)
def test_the_band_is_half_a_unit_of_the_last_reported_digit_converted(
    value: float, shown: float, digits: int | None, expected: float
) -> None:
    reading = Reading(value, None, shown, "x", True, digits)
    assert reading.compared_with(10.0) == expected


def test_an_unconverted_value_is_never_taken_as_the_threshold() -> None:
    # Even with fewer digits claimed than it shows, a value in the threshold's own unit is
    # compared as it is.
    reading = Reading(10.0000000001, None, 10.0000000001, "g/dL", False, 2)
    assert reading.compared_with(10.0) == 10.0000000001


def test_values_not_converted_or_of_unknown_precision_are_compared_as_they_are() -> None:
    same_unit = reported(9.99, "g/dL", 3, "g/dL", HEMOGLOBIN)
    assert same_unit.converted is False
    assert same_unit.compared_with(10.0) == 9.99
    unknown_digits = read_number(value(6.2, "mmol/L"), "g/dL", HEMOGLOBIN)
    assert unknown_digits.precision is None
    assert unknown_digits.compared_with(10.0) == unknown_digits.value
    assert reported(0.0, "mmol/L", 1, "g/dL", HEMOGLOBIN).compared_with(0.0) == 0.0


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        (None, "value 40 has no unit"),
        ("  ", "value 40 has no unit"),
        ("furlongs/L", "unit 'furlongs/L' not recognised"),
        ("kg", "unit 'kg' cannot be converted to U/L"),
    ],
)
def test_unit_failures_say_why(unit: str | None, message: str) -> None:
    with pytest.raises(Undecidable) as caught:
        read_number(value(40.0, unit), "U/L", ALT)
    assert str(caught.value) == message


@pytest.mark.parametrize("unit", [None, "1", "{score}", "{INR}"])
def test_dimensionless_criteria_read_unitless_and_score_values_as_they_are(
    unit: str | None,
) -> None:
    reading = read_number(value(2.5, unit), "{INR}", INR)
    assert reading.value == 2.5
    # "Converted" (shown as "= x unit" in the evidence) only when the unit was not the
    # criterion's own; no unit at all is not a conversion.
    assert reading.converted is (unit not in (None, "{INR}"))


def test_a_score_criterion_reads_unit_one_and_unitless_values() -> None:
    for unit in ("1", None):
        assert read_number(value(2.0, unit), "{score}", ECOG).value == 2.0


def test_a_different_annotation_is_not_the_criterions_unit() -> None:
    with pytest.raises(Undecidable) as caught:
        read_number(value(2.0, "{cigarettes}"), "{score}", ECOG)
    assert str(caught.value) == "unit '{cigarettes}' cannot be converted to {score}"


def test_integer_values_only_for_dimensionless_criteria() -> None:
    for unit in ("{score}", "1"):
        reading = read_number(ObservationValue(integer=3), unit, ECOG)
        assert (reading.value, reading.shown_value, reading.converted) == (3.0, 3, False)
        assert reading.comparator is None
    with pytest.raises(Undecidable) as caught:
        read_number(ObservationValue(integer=3), "U/L", ALT)
    assert str(caught.value) == "integer value 3 has no unit"


def test_coded_answers_give_their_number() -> None:
    reading = read_number(ObservationValue(codes=frozenset({(LOINC, "LA9624-3")})), "{score}", ECOG)
    assert (reading.value, reading.shown_value, reading.converted) == (2.0, "LA9624-3", False)
    with pytest.raises(Undecidable) as caught:
        read_number(ObservationValue(codes=frozenset({(LOINC, "LA0000-0")})), "{score}", ECOG)
    assert str(caught.value) == "coded value is not one this criterion understands"


def test_no_value_at_all() -> None:
    with pytest.raises(Undecidable) as caught:
        read_number(ObservationValue(text="see report"), "{score}", ECOG)
    assert str(caught.value) == "no numeric value"
