"""Small readers over raw FHIR JSON shared by the resource parsers.

They never raise on odd input: FHIR arriving from an EHR is often imperfect, and one bad
field must not lose the rest of the resource.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from fhir_mappings.facts import UCUM, Code, Quantity, ReferenceRange


def short_repr(value: object) -> str:
    """An odd value as a reason quotes it: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def modifier_extensions(element: Mapping[str, Any]) -> list[str]:
    """The urls of the element's modifierExtensions. A modifier extension changes what the
    element means (the German oncology profile marks post-therapy staging "ypT3" with
    one); FHIR forbids reading an element whose modifier is not understood as if it were
    absent, and none is understood here, so any makes the element unusable."""
    raw = element.get("modifierExtension")
    if not raw:
        return []
    items = raw if type(raw) is list else [raw]
    urls = []
    for item in items:
        url = as_dict(item).get("url")
        urls.append(url if type(url) is str and url else "(no url)")
    return urls


_COMPARATORS = frozenset({"<", "<=", ">=", ">"})


_EMPTY: Mapping[str, Any] = {}
_NO_CODES: frozenset[Code] = frozenset()


# JSON parsed by orjson/json is plain dicts and lists: `type() is` is the fast path, run
# hundreds of thousands of times per chart open; the isinstance fallback keeps other
# Mappings working.
def as_dict(value: Any) -> Mapping[str, Any]:
    if type(value) is dict:
        return value
    if value is None:  # an absent element: no ABC check
        return _EMPTY
    return value if isinstance(value, Mapping) else _EMPTY


def as_list(value: Any) -> list[Any]:
    return value if type(value) is list or isinstance(value, list) else []


# Code systems as real feeds name them → the canonical URI the code sets use. FHIR R4 asks
# for the canonical URI, but data converted from HL7 v2/CDA often carries the system's
# HL7 OID (urn:oid:…), and some feeds write the URI with https or a trailing slash. Source:
# HL7 terminology (terminology.hl7.org) identifier lists of each code system.
_CANONICAL_SYSTEMS = {
    "urn:oid:2.16.840.1.113883.6.1": "http://loinc.org",
    "https://loinc.org": "http://loinc.org",
    "http://loinc.org/": "http://loinc.org",
    "urn:oid:2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "https://snomed.info/sct": "http://snomed.info/sct",
    "http://snomed.info/sct/": "http://snomed.info/sct",
    "urn:oid:2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "urn:oid:2.16.840.1.113883.6.90": "http://hl7.org/fhir/sid/icd-10-cm",
    "urn:oid:2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    "urn:oid:2.16.840.1.113883.6.73": "http://www.whocc.no/atc",
    # The German ATC edition (BfArM, formerly DIMDI) keeps the WHO codes.
    "http://fhir.de/CodeSystem/bfarm/atc": "http://www.whocc.no/atc",
    "http://fhir.de/CodeSystem/dimdi/atc": "http://www.whocc.no/atc",
    "urn:oid:2.16.840.1.113883.6.8": "http://unitsofmeasure.org",
    # ICD-O-3 (histology/behaviour), as CDA-derived oncology feeds send it.
    "urn:oid:2.16.840.1.113883.6.43.1": "http://terminology.hl7.org/CodeSystem/icd-o-3",
    # HL7 v2 coding-system names (table 0396), which v2-to-FHIR conversions sometimes copy
    # into Coding.system unchanged.
    "LN": "http://loinc.org",
    "SCT": "http://snomed.info/sct",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "UCUM": "http://unitsofmeasure.org",
}


# ICD-10 and its national modifications: the code sets write their codes as the
# classification does ("C78.7"). Feeds also send them without the dot ("C787", from HL7 v2
# and billing systems), in lower case or padded, and ICD-10-GM codes with the dagger /
# asterisk / exclamation markers of multiple coding ("E11.40+", "G63.2*", "U69.10!"),
# which the German base profile carries in extensions instead.
_ICD10_SYSTEMS = frozenset(
    {
        "http://hl7.org/fhir/sid/icd-10",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://fhir.de/CodeSystem/bfarm/icd-10-gm",
        "http://fhir.de/CodeSystem/dimdi/icd-10-gm",
    }
)
_ICD10_DOTLESS = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{1,4}")


@lru_cache(maxsize=8192)
def icd10_code(code: str) -> str:
    """An ICD-10 code as the classification writes it: "c787 " → "C78.7", "E11.40+" →
    "E11.40". Anything that does not look like an ICD-10 code is returned stripped and
    upper-cased only, so it still matches nothing it should not."""
    normal = code.strip().upper().rstrip("+*!†")
    if "." not in normal and _ICD10_DOTLESS.fullmatch(normal):
        normal = f"{normal[:3]}.{normal[3:]}"
    return normal


# SNOMED CT editions as URIs (".../sct/<module>" or ".../sct/<module>/version/<date>"):
# FHIR puts the edition in Coding.version, some feeds put it into the system.
_SNOMED_EDITION = re.compile(r"https?://snomed\.info/sct/[0-9]+(?:/version/[0-9]{8})?/?")


def canonical_system(system: str) -> str:
    """The code system URI the code sets use for `system` (itself when not an alias)."""
    found = _CANONICAL_SYSTEMS.get(system)
    if found is not None:
        return found
    if system.startswith(("http://snomed.info/sct/", "https://snomed.info/sct/")):
        return _snomed_edition(system)
    return system


@lru_cache(maxsize=256)
def _snomed_edition(system: str) -> str:
    return "http://snomed.info/sct" if _SNOMED_EDITION.fullmatch(system) else system


def canonical_code(system: str, code: str) -> Code:
    """(system, code) as the code sets write them: canonical system URI, ICD-10 codes in
    the classification's own form, and no surrounding whitespace (a FHIR code never has
    any; feeds that pad fixed-width fields do)."""
    system = canonical_system(system.strip())
    if system in _ICD10_SYSTEMS:
        return (system, icd10_code(code))
    return (system, code.strip())


def codes_of(concept: Any) -> frozenset[Code]:
    """Every (system, code) in a CodeableConcept (or a list of them), with the system's
    canonical URI."""
    if concept is None:
        return _NO_CODES
    concepts = concept if type(concept) is list else (concept,)
    found: set[Code] = set()
    for item in concepts:
        codings = as_dict(item).get("coding")
        if type(codings) is not list:
            continue
        for coding in codings:
            if type(coding) is not dict:
                coding = as_dict(coding)
            system, code = coding.get("system"), coding.get("code")
            if type(system) is str and type(code) is str:
                found.add(canonical_code(system, code))
    return frozenset(found)


def display_of(concept: Any) -> str | None:
    concept = as_dict(concept)
    text = concept.get("text")
    if isinstance(text, str) and text:
        return text
    for coding in as_list(concept.get("coding")):
        display = as_dict(coding).get("display")
        if isinstance(display, str) and display:
            return display
    return None


def first_code(concept: Any) -> str | None:
    for coding in as_list(as_dict(concept).get("coding")):
        code = as_dict(coding).get("code")
        if isinstance(code, str):
            return code
    return None


class BadValue(ValueError):
    pass


def quantity(raw: Any) -> Quantity | None:
    """A FHIR Quantity; None when absent. Raises BadValue when present but unusable."""
    if raw is None:
        return None
    raw = as_dict(raw)
    value = raw.get("value")
    if type(value) is str and _DECIMAL.fullmatch(value) and math.isfinite(float(value)):
        # A decimal sent as a JSON string ("0.8"): invalid FHIR JSON, but only one number
        # can be meant, and the string keeps the digits it was written with.
        return Quantity(float(value), *_unit_and_comparator(raw), significant_digits(value))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(f"quantity value {value!r} is not a number")
    return Quantity(float(value), *_unit_and_comparator(raw), significant_digits(value))


def _unit_and_comparator(raw: dict[str, Any]) -> tuple[str | None, str | None]:
    unit: str | None = None
    code = raw.get("code")
    system = raw.get("system", UCUM)
    if isinstance(code, str) and code and type(system) is str and canonical_system(system) == UCUM:
        unit = code
    elif isinstance(raw.get("unit"), str):
        unit = raw["unit"]
    comparator = raw.get("comparator")
    if comparator is not None and comparator not in _COMPARATORS:
        raise BadValue(f"quantity comparator {comparator!r} is not valid")
    return unit, comparator


# FHIR's decimal: no leading zeros, no "+", no bare ".5".
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


# Labs repeat the same few values ("3.0", 140): each is counted once per process. `typed`
# keeps 1 (one digit) apart from 1.0 (two, as written).
@lru_cache(maxsize=8192, typed=True)
def significant_digits(value: int | float | str) -> int | None:
    """Significant digits of a number as written: "6.2" → 2, "0.030" → 2, 150 → 3.

    A JSON number has already lost trailing zeros after the point (6.20 reads as 6.2), so
    the precision of a float is a lower bound; a string keeps them. None when unknown.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        digits = Decimal(value if isinstance(value, str) else repr(value)).as_tuple().digits
    except InvalidOperation:
        return None
    stripped = "".join(str(d) for d in digits).lstrip("0")
    return len(stripped) or 1


_COMPARATOR_TEXT = {"≤": "<=", "≥": ">=", "=<": "<=", "=>": ">="}
# A decimal comma, as European systems write numbers ("0,8", "12,5"), but never one
# followed by exactly three digits: "1,200" could be 1.2 or 1200 and is refused.
_COMMA_DECIMAL = r",(?!\d{3}(?!\d))\d+"
# "1.1", "<0.3", "> 1000", "≤ 5 mg/dL", "0,8 mg/dl": one number with an optional comparator
# and unit.
_NUMBER_TEXT = re.compile(
    r"\s*(<=|>=|=<|=>|<|>|≤|≥)?\s*"
    rf"([+-]?(?:\d+(?:\.\d*|{_COMMA_DECIMAL})?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"\s*([A-Za-z%µμ/*\[\]{}.^0-9()_-]*[A-Za-z%µμ\]}])?\s*"
)


def number_text(text: str) -> Quantity | None:
    """A number written as text (valueString, referenceRange.text), else None."""
    match = _NUMBER_TEXT.fullmatch(text)
    if match is None:
        return None
    comparator, number, unit = match.groups()
    number = number.replace(",", ".")
    value = float(number)
    if not math.isfinite(value):
        return None
    comparator = _COMPARATOR_TEXT.get(comparator or "", comparator)
    return Quantity(value, unit, comparator, significant_digits(number))


# "3-17 umol/L", "3 - 17", "3.5–5.2 g/dL", "3 to 17 U/L": a low-high range.
_RANGE_TEXT = re.compile(
    rf"\s*(\d+(?:\.\d+|{_COMMA_DECIMAL})?)\s*(?:-|–|—|to)\s*(\d+(?:\.\d+|{_COMMA_DECIMAL})?)\s*"
    r"([A-Za-z%µμ/*\[\]{}.^0-9()_-]*[A-Za-z%µμ\]}])?\s*"
)


def range_text(text: str) -> tuple[Quantity | None, Quantity | None] | None:
    """(low, high) from a referenceRange.text, or None when it cannot be read.

    "3-17 umol/L" → (3, 17); "<1.2 mg/dL" / "≤ 40 U/L" → (None, 1.2); "> 3.5 g/dL" →
    (3.5, None). A bound given with "<" is treated as the limit itself, as labs mean it.
    """
    match = _RANGE_TEXT.fullmatch(text)
    if match is not None:
        low_text, high_text, unit = match.groups()
        low_text, high_text = low_text.replace(",", "."), high_text.replace(",", ".")
        low, high = float(low_text), float(high_text)
        if low > high:
            return None
        return (
            Quantity(low, unit, None, significant_digits(low_text)),
            Quantity(high, unit, None, significant_digits(high_text)),
        )
    bound = number_text(text)
    if bound is None or bound.comparator is None:
        return None
    limit = Quantity(bound.value, bound.unit, None, bound.precision)
    return (None, limit) if bound.comparator in ("<", "<=") else (limit, None)


def _age_years(raw: Any) -> tuple[float | None, str | None]:
    """A referenceRange.age bound in years, or a problem when its unit is not a time."""
    if raw is None:
        return None, None
    try:
        found = quantity(raw)
    except BadValue as exc:
        return None, str(exc)
    if found is None:
        return None, None
    per_year = {
        "a": 1.0,
        "yr": 1.0,
        "year": 1.0,
        "years": 1.0,
        "mo": 12.0,
        "wk": 52.1775,
        "d": 365.25,
    }
    factor = per_year.get((found.unit or "a").strip().lower())
    if factor is None:
        return None, f"age unit {found.unit!r} not understood"
    return found.value / factor, None


_RANGE_MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"


def _not_normal(item: Mapping[str, Any]) -> str | None:
    """What a referenceRange is when it is not the normal range (its `type`: therapeutic,
    critical, recommended...); None for the normal range, or one without a type."""
    kind = item.get("type")
    if kind is None:
        return None
    meanings = {code for system, code in codes_of(kind) if system == _RANGE_MEANING}
    if "normal" in meanings:
        return None
    if meanings:
        return ", ".join(sorted(meanings))
    text = display_of(kind) or first_code(kind)
    if text is not None and any(w in text.lower() for w in ("normal", "reference")):
        return None
    return text or "a range of unreadable type"


_GENDER = "http://hl7.org/fhir/administrative-gender"
# referenceRange.appliesTo as feeds write sex: HL7 v2 table 0001 codes (from v2 OBX-7
# conversions) and plain text, read as the FHIR administrative-gender code.
_V2_SEX = {
    ("http://terminology.hl7.org/CodeSystem/v2-0001", "M"): "male",
    ("http://terminology.hl7.org/CodeSystem/v2-0001", "F"): "female",
}
_SEX_WORDS = {
    "male": "male",
    "males": "male",
    "men": "male",
    "man": "male",
    "m": "male",
    "männlich": "male",
    "mann": "male",
    "männer": "male",
    "female": "female",
    "females": "female",
    "women": "female",
    "woman": "female",
    "f": "female",
    "w": "female",
    "weiblich": "female",
    "frau": "female",
    "frauen": "female",
}
# An appliesTo that names nothing readable: kept as a marker, so the range is never taken
# for one that applies to everyone.
UNREAD_APPLIES_TO = "urn:trial-cds-hooks:unread-applies-to"


def _applies_to(raw: Any) -> frozenset[Code]:
    codes: set[Code] = set()
    for concept in as_list(raw):
        found = codes_of(concept)
        codes |= found
        codes |= {(_GENDER, _V2_SEX[c]) for c in found if c in _V2_SEX}
        text = as_dict(concept).get("text")
        if isinstance(text, str) and (sex := _SEX_WORDS.get(text.strip().lower())) is not None:
            codes.add((_GENDER, sex))
        elif not found:
            codes.add((UNREAD_APPLIES_TO, text if isinstance(text, str) else ""))
    return frozenset(codes)


def reference_ranges(raw: Any) -> tuple[ReferenceRange, ...]:
    """Every normal referenceRange; one that is present but cannot be read keeps a
    `problem`, so the engine can tell "the lab's range is unreadable" from "no range was
    given". A range of another type (a heparin therapeutic range, a critical limit) is no
    ULN: left out, unless nothing else was given, then it stays with a problem, so the ULN
    is unknown rather than taken from a default table as if the lab had given no range."""
    ranges = []
    others: list[str] = []
    for item in as_list(raw):
        item = as_dict(item)
        if (kind := _not_normal(item)) is not None:
            others.append(kind)
            continue
        problem: str | None = None
        try:
            low, high = quantity(item.get("low")), quantity(item.get("high"))
        except BadValue as exc:
            low = high = None
            problem = f"reference range: {exc}"
        text = item.get("text")
        text = text if isinstance(text, str) and text.strip() else None
        if problem is None and low is None and high is None:
            parsed = range_text(text) if text is not None else None
            if parsed is None:
                problem = (
                    f"reference range text {text!r} cannot be read"
                    if text is not None
                    else "reference range has neither low, high nor text"
                )
            else:
                low, high = parsed
        age = as_dict(item.get("age"))
        age_low, low_problem = _age_years(age.get("low"))
        age_high, high_problem = _age_years(age.get("high"))
        problem = problem or low_problem or high_problem
        ranges.append(
            ReferenceRange(
                low=low,
                high=high,
                text=text,
                applies_to=_applies_to(item.get("appliesTo")),
                age_low=age_low,
                age_high=age_high,
                problem=problem,
            )
        )
    if others and not ranges:
        kinds = ", ".join(dict.fromkeys(others))
        return (ReferenceRange(problem=f"only a {kinds} range was given, not the normal range"),)
    return tuple(ranges)


def reference_id(raw: Any) -> str | None:
    """'Patient/123' from a Reference (relative or absolute URL, or urn:uuid)."""
    ref = as_dict(raw).get("reference")
    if not isinstance(ref, str) or not ref:
        return None
    if ref.startswith("urn:"):
        return ref
    parts = ref.rstrip("/").split("/")
    # Absolute references and _history suffixes: keep Type/id.
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


def _coded_status(concept: Any, system: str) -> str | None:
    """The code from the HL7 status system when present, else the first code.

    EHRs may put a local coding first (e.g. Epic's own problem-list status); "refuted" or
    "entered-in-error" must still be seen when the standard coding comes second.
    """
    for coding in as_list(as_dict(concept).get("coding")):
        coding = as_dict(coding)
        code = coding.get("code")
        if coding.get("system") == system and type(code) is str and code:
            return code
    return first_code(concept)


def known_status(concept: Any, system: str, known: frozenset[str]) -> tuple[str | None, str]:
    """(FHIR status code, "") when the concept holds one (the HL7 system's code, or a code
    or wording of another coding that is one: "Entered in error"), else (None, what was
    sent): a local code ("EIE") cannot be told to be "confirmed" or "entered-in-error"."""
    code = _coded_status(concept, system)
    if code in known:
        return code, ""
    concept = as_dict(concept)
    written = [
        as_dict(c).get(key) for c in as_list(concept.get("coding")) for key in ("code", "display")
    ]
    for text in [*written, concept.get("text")]:
        if type(text) is str:
            word = "-".join(text.lower().replace("-", " ").split())
            if word in known:
                return word, ""
    # What to name in the reason: the code, else a coding's code or display, else the text.
    sent = code or next((t for t in written if type(t) is str and t.strip()), concept.get("text"))
    return None, short_repr(sent) if type(sent) is str else ""
