"""Reading a number out of an Observation value, and comparing it with a threshold.

Comparators matter: "<0.3 mg/dL" is an interval, not the number 0.3. A threshold is met
only when every value the interval allows meets it, not_met when none does, and unknown
otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cds_hooks.eligibility.results import MET, NOT_MET, UNKNOWN, Status
from fhir_mappings.facts import ObservationValue, Quantity
from fhir_mappings.terminology import CodeSet
from fhir_mappings.units import UnitError, at_precision, convert, normalize_unit


class Undecidable(Exception):
    """The value cannot be read reliably; the message is the reason shown to clinicians."""


@dataclass(frozen=True, slots=True)
class Reading:
    value: float  # in the unit asked for
    comparator: str | None
    shown_value: float | int | str | bool  # as reported
    shown_unit: str | None
    converted: bool
    precision: int | None = None  # significant digits as reported

    def compared_with(self, threshold: float) -> float:
        """The value to compare with a fixed `threshold`: the converted value, except where
        the lab's value *is* the threshold in its own unit. 6.2 mmol/L haemoglobin converts
        to 9.99 g/dL, but it is the threshold "10 g/dL" as that lab writes it: conversion
        must not invent digits the result never had and move it across the limit.

        Taken as the threshold only when both hold: rounded to the digits the lab reported,
        the converted value is the threshold, and the threshold lies within half a unit of
        the last reported digit (converted). Rounding alone would turn 0.8 mg/dL bilirubin
        (one digit, 13.7 µmol/L) into 10 µmol/L; the second test refuses it."""
        if not self.converted or not self.precision or self.value == threshold:
            return self.value
        shown = float(self.shown_value) if isinstance(self.shown_value, int | float) else 0.0
        if shown == 0 or not math.isclose(at_precision(self.value, self.precision), threshold):
            return self.value
        half_unit = 0.5 * 10.0 ** (math.floor(math.log10(abs(shown))) - self.precision + 1)
        band = abs(half_unit * self.value / shown)
        return threshold if abs(self.value - threshold) <= band else self.value


def fmt(value: float) -> str:
    """Numbers for humans: 1.5, 100, 0.333."""
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{round(value, 2):g}"


def _dimensionless(unit: str) -> bool:
    return unit.startswith("{") or unit == "1"


def convert_quantity(quantity: Quantity, unit: str, code_set: CodeSet) -> float:
    if quantity.unit is None or not quantity.unit.strip():
        if _dimensionless(unit):
            return quantity.value
        raise Undecidable(f"value {fmt(quantity.value)} has no unit")
    if _dimensionless(unit) and normalize_unit(quantity.unit) in ("1", unit, "{score}"):
        return quantity.value
    try:
        return convert(
            quantity.value,
            quantity.unit,
            unit,
            molar_mass=code_set.molar_mass,
            equivalents=code_set.unit_equivalents,
        )
    except UnitError:
        if normalize_unit(quantity.unit) is None:
            raise Undecidable(f"unit {quantity.unit!r} not recognised") from None
        raise Undecidable(f"unit {quantity.unit!r} cannot be converted to {unit}") from None


def read_number(value: ObservationValue, unit: str, code_set: CodeSet) -> Reading:
    """The value in `unit`, from valueQuantity, valueInteger or a coded answer."""
    if value.quantity is not None:
        q = value.quantity
        converted = convert_quantity(q, unit, code_set)
        return Reading(
            value=converted,
            comparator=q.comparator,
            shown_value=q.value,
            shown_unit=q.unit,
            converted=normalize_unit(q.unit) != unit if q.unit else False,
            precision=q.precision,
        )
    if value.integer is not None:
        if not _dimensionless(unit):
            raise Undecidable(f"integer value {value.integer} has no unit")
        return Reading(float(value.integer), None, value.integer, None, False)
    for code in value.codes:
        if code in code_set.answers:
            number = code_set.answers[code]
            return Reading(number, None, code[1], None, False)
    if value.codes:
        raise Undecidable("coded value is not one this criterion understands")
    raise Undecidable("no numeric value")


def _interval(value: float, comparator: str | None) -> tuple[float, bool, float, bool]:
    """(low, low_closed, high, high_closed) of the values a reading allows."""
    if comparator is None:
        return value, True, value, True
    if comparator in ("<", "<="):
        return -math.inf, False, value, comparator == "<="
    return value, comparator == ">=", math.inf, False


def _all_satisfy(
    low: float, low_closed: bool, high: float, high_closed: bool, op: str, threshold: float
) -> bool:
    if op == ">=":
        return low >= threshold
    if op == ">":
        return low > threshold or (low == threshold and not low_closed)
    if op == "<=":
        return high <= threshold
    return high < threshold or (high == threshold and not high_closed)  # "<"


def _none_satisfy(
    low: float, low_closed: bool, high: float, high_closed: bool, op: str, threshold: float
) -> bool:
    if op == ">=":
        return high < threshold or (high == threshold and not high_closed)
    if op == ">":
        return high <= threshold
    if op == "<=":
        return low > threshold or (low == threshold and not low_closed)
    return low >= threshold  # "<"


def compare(value: float, comparator: str | None, op: str, threshold: float) -> Status:
    # Thresholds are often products (1.5 × ULN) or converted values: 1.5 × 1.2 is
    # 1.7999999999999998 in binary floating point, and a bilirubin of exactly 1.8 must pass.
    if math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12):
        value = threshold
    bounds = _interval(value, comparator)
    if _all_satisfy(*bounds, op, threshold):
        return MET
    if _none_satisfy(*bounds, op, threshold):
        return NOT_MET
    return UNKNOWN


OP_TEXT = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
NEGATED_TEXT = {">=": "<", ">": "≤", "<=": ">", "<": "≥"}
