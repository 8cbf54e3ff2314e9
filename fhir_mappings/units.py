"""UCUM unit conversion.

The unit algebra is ucumvert's (a UCUM grammar over pint), so 10*3/uL = 10*9/L and
mL/s → mL/min come from UCUM semantics, not from a hand table. Two things UCUM alone cannot
do are handled here, explicitly: unit strings from real feeds that are not UCUM ("K/uL",
"mg/dl") go through a reviewed alias table, and mass ↔ substance conversions
(µmol/L ↔ mg/dL) need the analyte's molar mass, which the caller passes from its code set.
Anything else unknown raises UnitError: an unknown unit must give `unknown`, never a number.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from fhir_mappings.terminology import load_terminology
from fhir_mappings.ucum_table import TABLE_FILE

# ucumvert logs parse failures at WARNING; a bad unit is an expected input here.
logging.getLogger("ucumvert").setLevel(logging.ERROR)


class UnitError(ValueError):
    """The unit is unknown, or cannot be converted to the unit asked for."""


# pint imports numpy and dask whenever they are installed (the pre-screen installs them):
# ~0.9 s that converting units never uses.
_UNUSED_BY_PINT = ("numpy", "dask")


@lru_cache(maxsize=1)
def _registry() -> Any:
    """The UCUM registry, built once per process and only for a unit the precomputed table
    does not hold (building it parses UCUM's essence file, ~0.5 s)."""
    # numpy and dask are hidden from pint's import unless something already loaded them
    # (then hiding would save nothing and could break their users).
    hidden = [] if "pint" in sys.modules else [n for n in _UNUSED_BY_PINT if n not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail
    try:
        from ucumvert import PintUcumRegistry
    finally:
        for name in hidden:
            sys.modules.pop(name, None)
    return PintUcumRegistry()


class _Base(NamedTuple):
    magnitude: float  # of one of this unit, in base units
    dimension: frozenset[tuple[str, float]]


@lru_cache(maxsize=1)
def _table() -> Mapping[str, _Base]:
    """The precomputed UCUM table (`ucum_table.py`): the registry's own answers for the
    common units, so most processes never build the registry."""
    raw = json.loads(TABLE_FILE.read_text(encoding="utf-8"))["units"]
    return {
        unit: _Base(float(row["magnitude"]), frozenset(row["dimension"].items()))
        for unit, row in raw.items()
    }


def _shifted(
    dimension: frozenset[tuple[str, float]], by: _Base, sign: int
) -> frozenset[tuple[str, float]]:
    """`dimension` multiplied (sign 1) or divided (sign -1) by `by`'s dimension."""
    powers = dict(dimension)
    for name, power in by.dimension:
        powers[name] = powers.get(name, 0.0) + sign * power
    return frozenset((name, power) for name, power in powers.items() if power != 0)


def _table_factor(source: str, target: str, molar_mass: float | None) -> float | None:
    """The conversion factor from the table, or None when a unit is not in it; raises
    UnitError when both are and the dimensions cannot be bridged."""
    table = _table()
    a, b = table.get(source), table.get(target)
    if a is None or b is None:
        return None
    if a.dimension == b.dimension:
        return a.magnitude / b.magnitude
    if molar_mass is not None:
        # The same bridge as the registry path below: substance → mass multiplies by the
        # molar mass, mass → substance divides by it, and the result must then agree.
        per_mole = table["g/mol"]
        names_a = {name for name, _ in a.dimension}
        names_b = {name for name, _ in b.dimension}
        forward = "[substance]" in names_a and "[mass]" in names_b
        backward = not forward and "[mass]" in names_a and "[substance]" in names_b
        if forward and _shifted(a.dimension, per_mole, 1) == b.dimension:
            return a.magnitude * molar_mass * per_mole.magnitude / b.magnitude
        if backward and _shifted(a.dimension, per_mole, -1) == b.dimension:
            return a.magnitude / (molar_mass * per_mole.magnitude) / b.magnitude
    raise UnitError(f"cannot convert {source!r} to {target!r}")


def _aliases() -> Mapping[str, str]:
    return load_terminology().unit_aliases


# UCUM has no spaces and spells micro "u"; feeds write "µmol/L" (micro sign) or "μmol/L"
# (Greek mu) and "mg / dL". Folding these is safe: it never turns one valid UCUM code into
# another. Case is never folded: "G/L" (gauss per litre in UCUM) is not "g/L".
_FOLD = str.maketrans({"µ": "u", "μ": "u", " ": None, "\t": None, "\u00a0": None})
# US feeds spell micro "mc" ("mcg/dL", "K/mcL", "cells/mcL"). UCUM has no "mc" prefix and
# never stacks two prefixes, so "mc" before a unit is no valid UCUM code: reading it as
# micro cannot turn one valid code into another.
_MC_MICRO = re.compile(r"(?<![A-Za-z])mc(?=(?:g|L|l|mol|kat|\[IU\]|IU|U)(?![A-Za-z]))")


# A count per volume written with a power of ten, as labs across Europe and the US do:
# "x10^9/l", "×10⁹/L", "10E9/l", "x10(9)/L", "10*3/µl". Each means 10*n per that volume
# ("l" and "L" are both the litre in UCUM). The exponent needs its mark (^, E, *, brackets
# or superscript digits): "1019/L" is no power of ten.
_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_POWER_OF_TEN = re.compile(
    r"[xX×*]?10(?:[\^eE*]([0-9]{1,2})|\(([0-9]{1,2})\)|([⁰¹²³⁴⁵⁶⁷⁸⁹]{1,2}))"
    r"/(L|l|uL|ul|mL|ml|nL|nl|mm3|cmm)"
)
_VOLUMES = {"l": "L", "ul": "uL", "ml": "mL", "nl": "nL", "cmm": "mm3"}


def _power_of_ten(folded: str) -> str | None:
    match = _POWER_OF_TEN.fullmatch(folded)
    if match is None:
        return None
    marked, bracketed, superscript, volume = match.groups()
    exponent = marked or bracketed or superscript.translate(_SUPERSCRIPT_DIGITS)
    return f"10*{int(exponent)}/{_VOLUMES.get(volume, volume)}"


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
    folded = _MC_MICRO.sub("u", text.translate(_FOLD))
    if folded in aliases:
        return aliases[folded]
    if (counted := _power_of_ten(folded)) is not None:
        return counted
    if folded in ("1", "%") or (folded.startswith("{") and folded.endswith("}")):
        return folded
    # Count annotations ({cells}/uL, 10*3{cells}/uL) are worth 1 in UCUM and say only what
    # is counted, so they are dropped. Other annotations ({1.73_m2}) change the quantity and
    # are kept, which makes conversion refuse them.
    folded = _COUNT_ANNOTATION.sub("", folded) or folded
    if folded in _table():
        return folded
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
# UCUM's arbitrary units (isArbitrary in ucum-essence.xml) are "not commensurable with any
# other unit": pint reads them as plain numbers, so IU/L would convert to 10*9/L (×10⁻⁹). A
# conversion must keep the same arbitrary units on both sides (m[IU]/mL ↔ [IU]/L). [iU] is
# UCUM's other spelling of [IU].
_ARBITRARY_UNITS = (
    "APL'U", "AU", "Amb'a'1'U", "BAU", "CCID_50", "CFU", "D'ag'U", "EID_50", "ELU", "EU",
    "FEU", "FFU", "GPL'U", "IR", "IU", "Lf", "MPL'U", "PFU", "PNU", "TCID_50", "USP'U",
    "anti'Xa'U", "arb'U", "bdsk'U", "beth'U", "dye'U", "hp_C", "hp_M", "hp_Q", "hp_X", "iU",
    "ka'U", "knk'U", "kp_C", "kp_M", "kp_Q", "kp_X", "mclg'U", "smgy'U", "tb'U", "todd'U",
)  # fmt: skip
_ARBITRARY = re.compile(r"\[(?:" + "|".join(re.escape(u) for u in _ARBITRARY_UNITS) + r")\]")


def _arbitrary(unit: str) -> list[str]:
    return sorted(atom.replace("[iU]", "[IU]") for atom in _ARBITRARY.findall(unit))


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
    if _arbitrary(from_unit) != _arbitrary(to_unit):
        raise UnitError(f"cannot convert {from_unit!r} to {to_unit!r} (arbitrary units)")
    from_table = _table_factor(from_unit, to_unit, molar_mass)
    if from_table is not None:
        return from_table
    return _registry_factor(from_unit, to_unit, molar_mass)


def _registry_factor(from_unit: str, to_unit: str, molar_mass: float | None) -> float:
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
