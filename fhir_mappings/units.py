"""UCUM unit conversion.

The unit algebra is ucumvert's (a UCUM grammar over pint), so 10*3/uL = 10*9/L and
mL/s → mL/min come from UCUM semantics, not from a hand table. Two things UCUM alone cannot
do are handled here, explicitly: unit strings from real feeds that are not UCUM ("K/uL",
"mg/dl") go through a reviewed alias table, and mass ↔ substance conversions
(µmol/L ↔ mg/dL) need the analyte's molar mass, which the caller passes from its code set.
Anything else unknown raises UnitError: an unknown unit must give `unknown`, never a number.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from fhir_mappings.terminology import load_terminology

# ucumvert logs parse failures at WARNING; a bad unit is an expected input here.
logging.getLogger("ucumvert").setLevel(logging.ERROR)


class UnitError(ValueError):
    """The unit is unknown, or cannot be converted to the unit asked for."""


@lru_cache(maxsize=1)
def _registry() -> Any:
    # Building the registry parses UCUM's essence file (~0.5 s): once per process.
    from ucumvert import PintUcumRegistry

    return PintUcumRegistry()


def _aliases() -> Mapping[str, str]:
    return load_terminology().unit_aliases


# UCUM has no spaces and spells micro "u"; feeds write "µmol/L" (micro sign) or "μmol/L"
# (Greek mu) and "mg / dL". Folding these is safe: it never turns one valid UCUM code into
# another. Case is never folded: "G/L" (gauss per litre in UCUM) is not "g/L".
_FOLD = str.maketrans({"µ": "u", "μ": "u", " ": None, "\t": None, "\u00a0": None})


@lru_cache(maxsize=4096)
def normalize_unit(unit: str | None) -> str | None:
    """The UCUM code for `unit` (alias table first, then UCUM itself), or None if unknown."""
    if unit is None:
        return None
    text = unit.strip()
    if not text:
        return None
    aliases = _aliases()
    if text in aliases:
        return aliases[text]
    folded = text.translate(_FOLD)
    if folded in aliases:
        return aliases[folded]
    if folded in ("1", "%") or (folded.startswith("{") and folded.endswith("}")):
        return folded
    # Count annotations ({cells}/uL, 10*3{cells}/uL) are worth 1 in UCUM and say only what
    # is counted, so they are dropped. Other annotations ({1.73_m2}) change the quantity and
    # are kept, which makes conversion refuse them.
    folded = _COUNT_ANNOTATION.sub("", folded) or folded
    try:
        _registry().from_ucum(folded)
    except Exception:  # ucumvert raises several parser/pint types for bad input
        return None
    return folded


def _is_substance(quantity: Any) -> bool:
    return "[substance]" in str(quantity.dimensionality)


def _is_mass(quantity: Any) -> bool:
    return "[mass]" in str(quantity.dimensionality)


_ANNOTATION = re.compile(r"\{[^}]*\}")
_COUNT_ANNOTATION = re.compile(r"\{(?:cells?|count|RBCs?|WBCs?|platelets?)\}", re.IGNORECASE)


def _ratio(numerator: Any, denominator: Any) -> float:
    # from_ucum returns quantities, not bare units: "g/(24.h)" carries a magnitude of 1/24,
    # so the factor is the dimensionless ratio of the two quantities, not `.to()` of units.
    return float((numerator / denominator).to("dimensionless").magnitude)


@lru_cache(maxsize=4096)
def conversion_factor(from_unit: str, to_unit: str, molar_mass: float | None = None) -> float:
    """Multiply a value in `from_unit` by this to get it in `to_unit` (both UCUM codes)."""
    if from_unit == to_unit:
        return 1.0
    # UCUM annotations ({INR}, {1.73_m2}) have no dimension, so pint would silently drop
    # them: mL/min/{1.73_m2} (eGFR, normalised to body surface) would pass as mL/min.
    # Units whose annotations differ are different quantities.
    if sorted(_ANNOTATION.findall(from_unit)) != sorted(_ANNOTATION.findall(to_unit)):
        raise UnitError(f"cannot convert {from_unit!r} to {to_unit!r}")
    ureg = _registry()
    try:
        source = ureg.from_ucum(from_unit)
        target = ureg.from_ucum(to_unit)
    except Exception as exc:
        raise UnitError(f"unit {from_unit!r} or {to_unit!r} is not UCUM") from exc
    try:
        return _ratio(source, target)
    except Exception:  # dimensions differ; a molar mass may still bridge them
        if molar_mass is None:
            raise UnitError(f"cannot convert {from_unit!r} to {to_unit!r}") from None
    if molar_mass is None:
        raise UnitError(f"cannot convert {from_unit!r} to {to_unit!r}")
    grams_per_mole = molar_mass * ureg.from_ucum("g/mol")
    try:
        if _is_substance(source) and _is_mass(target):
            return _ratio(source * grams_per_mole, target)
        if _is_mass(source) and _is_substance(target):
            return _ratio(source / grams_per_mole, target)
    except Exception as exc:
        raise UnitError(f"cannot convert {from_unit!r} to {to_unit!r}") from exc
    raise UnitError(f"cannot convert {from_unit!r} to {to_unit!r}")


def convert(
    value: float,
    from_unit: str,
    to_unit: str,
    *,
    molar_mass: float | None = None,
    equivalents: Mapping[str, str] | None = None,
) -> float:
    """Convert `value` from `from_unit` to `to_unit`.

    `equivalents` maps units an analyte treats as identical although UCUM does not (IU and U
    for enzyme activities). Raises UnitError for unknown or incompatible units.
    """
    source = normalize_unit(from_unit)
    target = normalize_unit(to_unit)
    if source is None:
        raise UnitError(f"unit {from_unit!r} not recognised")
    if target is None:
        raise UnitError(f"unit {to_unit!r} not recognised")
    if equivalents:
        source = equivalents.get(source, source)
        target = equivalents.get(target, target)
    return value * conversion_factor(source, target, molar_mass)


def at_precision(value: float, significant: int | None) -> float:
    """`value` rounded to `significant` significant digits (None or 0: unchanged)."""
    if not significant or value == 0 or not math.isfinite(value):
        return value
    return round(value, significant - 1 - math.floor(math.log10(abs(value))))
