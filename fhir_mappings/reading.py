"""Reading facts with the terminology: answers given as text or only in `interpretation`,
physiological plausibility, modality, and the reference ranges that apply to this patient.

The resource parsers read FHIR structure; this module adds what needs the code sets, so
the engine sees a value it can compare, or a `problem` ("implausible value: ...") that it
already turns into `unknown` through its generic paths.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import date
from functools import lru_cache

from fhir_mappings.derived import age_in_years
from fhir_mappings.facts import (
    Code,
    DiagnosticReportFact,
    ObservationFact,
    ObservationValue,
    PatientFact,
    ReferenceRange,
)
from fhir_mappings.terminology import CodeSet, Plausible, Terminology, wording_words
from fhir_mappings.units import UnitError, convert, normalize_unit

DICOM = "http://dicom.nema.org/resources/ontology/DCM"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
# Diagnostic service sections (HL7 v2 table 0074) that name a modality.
_V2_MODALITY = {"NMR": "MR", "CT": "CT", "RUS": "US", "CUS": "US", "OUS": "US", "VUS": "US"}
_DICOM_MODALITIES = frozenset({"MR", "CT", "ES", "US", "PT", "CR", "DX", "NM", "XA", "MG"})
CONFLICTING = "conflicting"
_MODALITY_WORDS = (
    (re.compile(r"\bMRI?\b|\bmagnetic resonance\b|\bMRT\b", re.IGNORECASE), "MR"),
    (re.compile(r"\bCT\b|\bcomputed tomograph", re.IGNORECASE), "CT"),
    (
        re.compile(
            r"endoscop|colonoscop|sigmoidoscop|proctoscop|rectoscop|koloskop|rektoskop",
            re.IGNORECASE,
        ),
        "ES",
    ),
)
_DIMENSIONLESS = ("1", "{score}", "{count}", "{INR}")


def modality_of(
    codes: frozenset[Code], category: frozenset[Code], text: str | None, terminology: Terminology
) -> str | None:
    """MR / CT / ES ... from the codes' sets, the category (DICOM modality, HL7 v2 0074)
    and the code's own text; CONFLICTING when they disagree; None when nothing says."""
    return _modality(codes, category, text, terminology)


# A chart repeats the same test (codes, category, name) many times: each combination is
# read once per process (the text patterns are the costly part).
@lru_cache(maxsize=8192)
def _modality(
    codes: frozenset[Code], category: frozenset[Code], text: str | None, terminology: Terminology
) -> str | None:
    found: set[str] = set()
    for code_set in terminology.reading_sets(codes):
        if code_set.modality is not None:
            found.add(code_set.modality)
    for system, code in category:
        if system == DICOM and code in _DICOM_MODALITIES:
            found.add(code)
        elif system == V2_0074 and code in _V2_MODALITY:
            found.add(_V2_MODALITY[code])
    if text:
        found |= {modality for pattern, modality in _MODALITY_WORDS if pattern.search(text)}
    if len(found) > 1:
        return CONFLICTING
    return next(iter(found), None)


# Between an answer and its wording: "1 - Restricted ...", "ECOG 1: Restricted ...",
# "1 = ...", "1 (Restricted ...)".
_WORDING_SEPARATOR = re.compile(r"\s*[-–—:=(]\s*")


def _answer_codes(value: ObservationValue, sets: tuple[CodeSet, ...]) -> frozenset[Code]:
    """Codes read from a text answer ("Retained", "MSS") of a value that has no codes."""
    if value.codes or value.text is None:
        return frozenset()
    # A trailing full stop or comma is how a note ends, not part of the answer ("neg.").
    key = " ".join(value.text.lower().split()).rstrip(".,;").rstrip()
    exact = frozenset(cs.text_answers[key] for cs in sets if key in cs.text_answers)
    return exact or _worded_answer(key, sets)


def _worded_answer(key: str, sets: tuple[CodeSet, ...]) -> frozenset[Code]:
    """An answer followed by its wording ("1 - Restricted in physically strenuous activity"),
    read only when the words after the separator begin that answer's own wording. A number with
    another grade's words ("1 - Fully active"), a range ("0-1") or a comment stays unread."""
    for separator in _WORDING_SEPARATOR.finditer(key):
        answer = key[: separator.start()]
        words = wording_words(key[separator.end() :])
        if not words:
            continue
        for code_set in sets:
            code = code_set.text_answers.get(answer)
            wording = code_set.answer_wordings.get(code) if code else None
            if code and wording and _begins(words, wording):
                return frozenset({code})
    return frozenset()


def _begins(words: tuple[str, ...], wording: tuple[str, ...]) -> bool:
    # The last word may be cut short (three letters at least), as flowsheet displays
    # truncate at a column width.
    if len(words) > len(wording):
        return False
    *whole, last = words
    cut = wording[len(whole)]
    return list(whole) == list(wording[: len(whole)]) and (
        last == cut or (len(last) >= 3 and cut.startswith(last))
    )


def _read_answers(
    value: ObservationValue, interpretation: frozenset[Code], sets: tuple[CodeSet, ...]
) -> ObservationValue:
    if not sets or value.codes:
        return value  # nothing to read the answer against, or already coded
    codes = _answer_codes(value, sets)
    if not value.codes and not codes:
        if not interpretation:
            return value
        # Results carried only in `interpretation` (an MSI call given as the
        # interpretation of a score): its codes count when they are this test's answers.
        codes = frozenset(c for c in interpretation if any(c in cs.answer_codes for cs in sets))
    return replace(value, codes=codes) if codes else value


def _fmt(value: float) -> str:
    return f"{value:g}"


def implausible(value: ObservationValue, code_set: CodeSet) -> str | None:
    """Why `value` cannot be a real result of `code_set`'s analyte, or None."""
    limits = code_set.plausible
    if limits is None:
        return None
    if value.quantity is not None:
        number, unit, comparator = (
            value.quantity.value,
            value.quantity.unit,
            value.quantity.comparator,
        )
    elif value.integer is not None:
        number, unit, comparator = float(value.integer), None, None
    else:
        return None  # coded answers are on their scale by construction
    why = _outside(number, unit, comparator, limits, code_set)
    if why is None:
        return None
    shown = f"{_fmt(number)}{' ' + unit if unit else ''}"
    if why == "not finite":
        return f"implausible value: {shown} is not a finite number"
    if why == "not on scale":
        return f"implausible value: {shown} is not a point on the {code_set.name} scale"
    # The limits' source stays in the terminology data; the reason says what and where.
    where = f"outside the physiological limits {_fmt(limits.low)}–{_fmt(limits.high)} {limits.unit}"
    return f"implausible value: {comparator or ''}{shown} is {where}"


def _outside(
    number: float, unit: str | None, comparator: str | None, limits: Plausible, code_set: CodeSet
) -> str | None:
    """Which way a value breaks its analyte's limits ("not finite", "sign", "range",
    "not on scale"), or None; the reason is worded only then (most values are fine)."""
    if not math.isfinite(number):
        return "not finite"
    # Sign and zero need no unit: a negative creatinine is impossible in any unit.
    if (
        comparator is None
        and limits.low >= 0
        and (number < 0 or (number == 0 and (limits.low > 0 or limits.low_exclusive)))
    ):
        return "sign"
    if limits.unit in _DIMENSIONLESS:
        ucum = normalize_unit(unit)
        # A unit the analyte treats as its scale's own (KPS sent in "%") is checked on it.
        ucum = code_set.unit_equivalents.get(ucum, ucum) if ucum is not None else None
        if unit is not None and ucum not in (*_DIMENSIONLESS, None):
            return None  # another unit: the engine refuses it as not convertible
        canonical = number
    else:
        if unit is None:
            return None  # the engine says "no unit"
        try:
            canonical = convert(
                number,
                unit,
                limits.unit,
                molar_mass=code_set.molar_mass,
                equivalents=code_set.unit_equivalents,
            )
        except UnitError:
            return None  # the engine says the unit is unknown
    below = canonical < limits.low or (canonical == limits.low and limits.low_exclusive)
    if comparator in ("<", "<="):
        bad = canonical < limits.low or (canonical == limits.low and comparator == "<")
    elif comparator in (">", ">="):
        bad = canonical > limits.high or (canonical == limits.high and comparator == ">")
    else:
        bad = below or canonical > limits.high
    if bad:
        return "range"
    if limits.integer and comparator is None and not float(canonical).is_integer():
        return "not on scale"
    return None


def _contradiction(
    value: ObservationValue, interpretation: frozenset[Code], code_set: CodeSet
) -> str | None:
    """A number that disagrees with the coded answer given with it (ECOG 1 with the
    interpretation "ECOG 2") cannot be trusted either way."""
    if not code_set.answers:
        return None
    if value.integer is not None:
        number = float(value.integer)
    elif value.quantity is not None and value.quantity.comparator is None:
        number = value.quantity.value
    else:
        return None
    for code in value.codes | interpretation:
        coded = code_set.answers.get(code)
        if coded is not None and coded != number:
            return (
                f"implausible value: {_fmt(number)} contradicts its own coded answer "
                f"{code[1]} ({_fmt(coded)})"
            )
    return None


def _age_at(patient: PatientFact, day: date | None) -> float | None:
    if patient.birth_date is None or patient.birth_date_precision != "day" or day is None:
        return None
    return float(age_in_years(patient.birth_date, day))


def applicable_ranges(
    ranges: tuple[ReferenceRange, ...], age: float | None
) -> tuple[ReferenceRange, ...]:
    """The ranges for the patient's age (sex is chosen by the engine from appliesTo).

    An age-specific range for another age group is left out, unless that would leave no
    range at all: then one stays with a problem, so the ULN is unknown rather than taken
    from a default table as if the lab had given none.
    """
    kept: list[ReferenceRange] = []
    for r in ranges:
        if r.age_low is None and r.age_high is None:
            kept.append(r)
        elif age is None:
            kept.append(
                r
                if r.problem
                else replace(r, problem="age-specific reference range; patient age unknown")
            )
        elif (r.age_low is None or r.age_low <= age) and (r.age_high is None or age <= r.age_high):
            kept.append(r)
    if ranges and not kept:
        return (replace(ranges[0], problem="no reference range given for the patient's age"),)
    if len(kept) == len(ranges) and all(a is b for a, b in zip(kept, ranges, strict=True)):
        return ranges  # unchanged: the same tuple, so callers can tell by identity
    return tuple(kept)


def refine_observation(
    fact: ObservationFact, terminology: Terminology, patient: PatientFact
) -> ObservationFact:
    sets = terminology.reading_sets(fact.codes)
    value = _read_answers(fact.value, fact.interpretation, sets)
    problems = [fact.problem] if fact.problem else []
    for code_set in sets:
        why = implausible(value, code_set) or _contradiction(value, fact.interpretation, code_set)
        if why is not None and why not in problems:
            problems.append(why)
    components = (
        tuple(
            replace(c, value=refined)
            if (refined := _read_answers(c.value, frozenset(), terminology.reading_sets(c.codes)))
            is not c.value
            else c
            for c in fact.components
        )
        if fact.components
        else fact.components
    )
    for component in components:
        # An impossible component (systolic 1280 mm[Hg]) makes the panel unusable, as an
        # impossible value of its own would: it is typed wrongly, and so may the rest be.
        for code_set in terminology.reading_sets(component.codes):
            why = implausible(component.value, code_set)
            if why is not None and why not in problems:
                problems.append(why)
    ranges = (
        applicable_ranges(fact.reference_ranges, _age_at(patient, fact.date))
        if fact.reference_ranges
        else fact.reference_ranges
    )
    problem = "; ".join(problems) or None
    modality = modality_of(fact.codes, fact.category, fact.display, terminology)
    if (
        value is fact.value
        and problem == fact.problem
        and modality == fact.modality
        and ranges is fact.reference_ranges
        and (
            components is fact.components
            or all(a is b for a, b in zip(components, fact.components, strict=True))
        )
    ):
        return fact  # nothing to add: the usual case, and a copy costs a whole fact
    return replace(
        fact,
        value=value,
        components=components,
        reference_ranges=ranges,
        problem=problem,
        modality=modality,
    )


def refine_report(fact: DiagnosticReportFact, terminology: Terminology) -> DiagnosticReportFact:
    return replace(fact, modality=modality_of(fact.codes, fact.category, fact.display, terminology))


__all__ = [
    "CONFLICTING",
    "applicable_ranges",
    "implausible",
    "modality_of",
    "refine_observation",
    "refine_report",
]
