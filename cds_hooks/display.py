"""How people read values: units as clinicians write them, numbers without noise, and text
from patient data made inert for Markdown.

UCUM is the right wire format and the wrong reading format: "10*9/L" renders in Markdown as
italics, "{INR}" is an annotation nobody writes. The card and the report page both show
values through this module, so a unit reads the same in both places.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from cds_hooks.eligibility import Evidence
from cds_hooks.trials import CriterionDefinition
from fhir_mappings.terminology import Terminology
from fhir_mappings.units import UnitError, convert, normalize_unit

# UCUM code → how a clinician writes it. Empty: the value carries no unit (a ratio, a score).
UNIT_TEXT: Mapping[str, str] = {
    "10*9/L": "×10⁹/L",
    "10*12/L": "×10¹²/L",
    "10*3/uL": "×10³/µL",
    "10*6/uL": "×10⁶/µL",
    "/uL": "/µL",
    "cells/uL": "cells/µL",
    "umol/L": "µmol/L",
    "ug/L": "µg/L",
    "ug/dL": "µg/dL",
    "uL": "µL",
    "g/(24.h)": "g/24 h",
    "mg/(24.h)": "mg/24 h",
    "mL/min": "mL/min",
    "mL/min/{1.73_m2}": "mL/min/1.73 m²",
    "[IU]/L": "IU/L",
    "a": "years",
    "{INR}": "",
    "{ratio}": "",
    "{score}": "",
    "1": "",
}
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_POWER = re.compile(r"10\*(-?\d+)")
_ANNOTATION = re.compile(r"\{[^}]*\}")
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(?:mol|g|L|l|m)\b)")


def unit_text(unit: str | None) -> str:
    """ "10*9/L" → "×10⁹/L", "umol/L" → "µmol/L", "{INR}" → ""; unknown text is kept as is."""
    if not unit:
        return ""
    if unit in UNIT_TEXT:
        return UNIT_TEXT[unit]
    text = _POWER.sub(lambda m: "×10" + m.group(1).translate(_SUPERSCRIPT), unit)
    text = _MICRO.sub("µ", text)
    return _ANNOTATION.sub("", text).strip()


def number_text(value: float) -> str:
    """245 rather than 245.0; 1.5; 0.333."""
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{round(value, 2):g}"


def quantity_text(value: float, unit: str | None) -> str:
    shown = unit_text(unit)
    return f"{number_text(value)} {shown}" if shown else number_text(value)


def criterion_unit(criterion: CriterionDefinition) -> tuple[str, str] | None:
    """(UCUM unit, code set) a criterion is stated in, e.g. ANC in 10*9/L, also when it is
    one measure read several ways (ANC direct, or from WBC × neutrophils %: every part in
    10*9/L); None for criteria stated otherwise (× ULN, coded answers, several measures)."""
    parts = list(_rule_parts(criterion.rule))
    units = {p["unit"] for p in parts if isinstance(p.get("unit"), str)}
    code_sets = [p["code_set"] for p in parts if isinstance(p.get("code_set"), str)]
    if (
        len(units) == 1
        and code_sets
        and len(set(code_sets)) == 1
        and all("unit" in p for p in parts)
    ):
        return units.pop(), code_sets[0]
    return None


def _rule_parts(rule: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The rules that read values: the rule itself, or the parts of a combination."""
    if "rules" in rule:
        for part in rule["rules"]:
            yield from _rule_parts(part)
    elif isinstance(rule.get("rule"), Mapping):
        yield from _rule_parts(rule["rule"])
    else:
        yield rule


def _in_criterion_unit(
    value: float, unit: str, criterion: CriterionDefinition, terminology: Terminology
) -> str | None:
    stated = criterion_unit(criterion)
    if stated is None:
        return None
    target, set_name = stated
    if normalize_unit(unit) == target:
        return None
    try:
        code_set = terminology.code_set(set_name)
        converted = convert(
            value,
            unit,
            target,
            molar_mass=code_set.molar_mass,
            equivalents=code_set.unit_equivalents,
        )
    except (KeyError, UnitError):
        return None  # shown as reported: the reason says why it could not be used
    return quantity_text(converted, target)


def value_text(evidence: Evidence, criterion: CriterionDefinition, terminology: Terminology) -> str:
    """The evidence's value in the criterion's unit, with the reported value in parentheses
    when it was converted: "2.1 ×10⁹/L (2100 cells/µL)"."""
    value: Any = evidence.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        reported = quantity_text(float(value), evidence.unit)
        if evidence.unit:
            converted = _in_criterion_unit(float(value), evidence.unit, criterion, terminology)
            if converted is not None:
                return f"{converted} ({reported})"
        return reported
    text = str(value)
    shown = unit_text(evidence.unit)
    return f"{text} {shown}" if shown else text


_UCUM_IN_TEXT = re.compile(
    r"(?<![\w*{])("
    + "|".join(re.escape(u) for u in sorted(UNIT_TEXT, key=len, reverse=True) if len(u) > 1)
    + r")(?![\w*}/])"
)


@lru_cache(maxsize=4096)  # the card and the report show the same reasons
def humanize_units(text: str) -> str:
    """Units inside a sentence from the engine ("ANC 3.2 10*9/L ≥ 1.5 10*9/L") as people
    write them ("ANC 3.2 ×10⁹/L ≥ 1.5 ×10⁹/L"); "INR 1 {INR}" → "INR 1"."""
    replaced = _UCUM_IN_TEXT.sub(lambda m: UNIT_TEXT[m.group(1)], text)
    return re.sub(r" {2,}", " ", re.sub(r" +([,;)])", r"\1", replaced)).strip()


# CommonMark: any ASCII punctuation may be backslash-escaped. These are the ones that start
# emphasis, code, links, images, HTML, entities, tables or strike-through.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#+!|~&$])")
_BLOCK_START = re.compile(r"[-=]|\d+[.)]")


def markdown_text(text: str) -> str:
    """Text from data (names, codes, display texts, reasons) as literal Markdown: special
    characters escaped, one line (a newline in data must not start a list or a heading),
    and a line start that could read as a list, quote or heading neutralised."""
    one_line = " ".join(text.split())
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", one_line)
    # "- x", "= x", "1. x" and "1) x" at the start of a line are block syntax. Parentheses
    # elsewhere are inert: a link needs "](", and "]" is escaped.
    if _BLOCK_START.match(escaped) is None:
        return escaped
    escaped = re.sub(r"^([-=])", r"\\\1", escaped)
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", escaped)
