"""Small readers over raw FHIR JSON shared by the resource parsers.

They never raise on odd input: FHIR arriving from an EHR is often imperfect, and one bad
field must not lose the rest of the resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings.facts import UCUM, Code, Quantity, ReferenceRange

_COMPARATORS = frozenset({"<", "<=", ">=", ">"})


_EMPTY: Mapping[str, Any] = {}
_NO_CODES: frozenset[Code] = frozenset()


# JSON parsed by orjson/json is plain dicts and lists: `type() is` is the fast path, run
# hundreds of thousands of times per chart open; the isinstance fallback keeps other
# Mappings working.
def as_dict(value: Any) -> Mapping[str, Any]:
    if type(value) is dict:
        return value
    return value if isinstance(value, Mapping) else _EMPTY


def as_list(value: Any) -> list[Any]:
    return value if type(value) is list or isinstance(value, list) else []


def codes_of(concept: Any) -> frozenset[Code]:
    """Every (system, code) in a CodeableConcept (or a list of them)."""
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
                found.add((system, code))
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
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(f"quantity value {value!r} is not a number")
    unit: str | None = None
    code = raw.get("code")
    if isinstance(code, str) and code and raw.get("system", UCUM) == UCUM:
        unit = code
    elif isinstance(raw.get("unit"), str):
        unit = raw["unit"]
    comparator = raw.get("comparator")
    if comparator is not None and comparator not in _COMPARATORS:
        raise BadValue(f"quantity comparator {comparator!r} is not valid")
    return Quantity(float(value), unit, comparator)


def reference_ranges(raw: Any) -> tuple[ReferenceRange, ...]:
    ranges = []
    for item in as_list(raw):
        item = as_dict(item)
        try:
            low, high = quantity(item.get("low")), quantity(item.get("high"))
        except BadValue:
            low = high = None
        text = item.get("text")
        ranges.append(
            ReferenceRange(
                low=low,
                high=high,
                text=text if isinstance(text, str) else None,
                applies_to=codes_of(item.get("appliesTo")),
            )
        )
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
