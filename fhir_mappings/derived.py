"""Values derived from facts: age, Cockcroft-Gault creatinine clearance."""

from __future__ import annotations

import math
from datetime import date


def age_in_years(birth: date, on: date) -> int:
    """Completed years on `on`.

    A 29 February birthday is reached on 1 March in common years (the convention most
    registries use for legal age). A birth after `on` gives a negative number rather than
    an error, so range checks over partial birth dates stay total.
    """
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def cockcroft_gault(age_years: int, sex: str, weight_kg: float, creatinine_mg_dl: float) -> float:
    """Creatinine clearance in mL/min: (140 − age) × weight / (72 × SCr), × 0.85 if female.

    Raises ValueError on inputs the formula has no meaning for: non-positive or non-finite
    values, an age of 140 or more (the clearance would be ≤ 0), or a sex other than male or
    female (the formula is defined only for those).
    """
    for name, value in (
        ("age", age_years),
        ("weight", weight_kg),
        ("creatinine", creatinine_mg_dl),
    ):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, not {value!r}")
    if age_years >= 140:
        raise ValueError(f"age {age_years} is outside the Cockcroft-Gault formula")
    if sex not in ("male", "female"):
        raise ValueError("Cockcroft-Gault needs sex male or female")
    clearance = (140 - age_years) * weight_kg / (72 * creatinine_mg_dl)
    return clearance * 0.85 if sex == "female" else clearance
