"""Values derived from facts: age, Cockcroft-Gault creatinine clearance."""

from __future__ import annotations

from datetime import date


def age_in_years(birth: date, on: date) -> int:
    """Completed years on `on`. A 29 February birthday is reached on 1 March in common
    years (the convention most registries use for legal age)."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def cockcroft_gault(age_years: int, sex: str, weight_kg: float, creatinine_mg_dl: float) -> float:
    """Creatinine clearance in mL/min: (140 − age) × weight / (72 × SCr), × 0.85 if female."""
    if age_years <= 0 or weight_kg <= 0 or creatinine_mg_dl <= 0:
        raise ValueError("age, weight and creatinine must be positive")
    if sex not in ("male", "female"):
        raise ValueError("Cockcroft-Gault needs sex male or female")
    clearance = (140 - age_years) * weight_kg / (72 * creatinine_mg_dl)
    return clearance * 0.85 if sex == "female" else clearance
