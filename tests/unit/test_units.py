from __future__ import annotations

import pytest

from fhir_mappings.units import UnitError, convert, normalize_unit


@pytest.mark.parametrize(
    ("value", "source", "target", "expected", "molar_mass"),
    [
        (1.8, "10*3/uL", "10*9/L", 1.8, None),
        (1800, "/uL", "10*9/L", 1.8, None),
        (1800, "cells/uL", "10*9/L", 1.8, None),  # alias → /uL
        (180, "K/uL", "10*9/L", 180, None),  # non-UCUM alias
        (12, "10*4/uL", "10*9/L", 120, None),
        (128, "g/L", "g/dL", 12.8, None),
        (3.9, "g/dL", "g/L", 39, None),
        (600, "mg/(24.h)", "g/(24.h)", 0.6, None),  # UCUM parenthesised 24 h
        (1.0, "g/d", "g/(24.h)", 1.0, None),
        (1.0, "mL/s", "mL/min", 60, None),
        (45, "mm", "cm", 4.5, None),
        (100, "[lb_av]", "kg", 45.359237, None),
        # Mass ↔ substance needs the analyte's molar mass: creatinine 113.12 g/mol, so
        # 1 mg/dL = 10 mg/L / 113.12 g/mol = 88.40 µmol/L.
        (1.0, "mg/dL", "umol/L", 88.4016973, 113.12),
        (17.1, "umol/L", "mg/dL", 17.1 * 584.66 / 10000, 584.66),  # bilirubin
        (7.9, "mmol/L", "g/dL", 7.9 * 16114.5 / 10000, 16114.5),  # hemoglobin (monomer)
    ],
)
def test_conversions(
    value: float, source: str, target: str, expected: float, molar_mass: float | None
) -> None:
    assert convert(value, source, target, molar_mass=molar_mass) == pytest.approx(expected)


def test_equivalents_bridge_iu_and_u_only_when_asked() -> None:
    with pytest.raises(UnitError):
        convert(45, "IU/L", "U/L")
    assert convert(45, "IU/L", "U/L", equivalents={"[IU]/L": "U/L"}) == 45


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("furlongs/L", "10*9/L"),  # not a unit
        ("U/L", "g/L"),  # incompatible dimensions
        ("umol/L", "mg/dL"),  # molar ↔ mass without a molar mass
        ("mL/min/{1.73_m2}", "mL/min"),  # BSA-normalised is not the same quantity
        ("{INR}", "{score}"),
    ],
)
def test_refused_conversions(source: str, target: str) -> None:
    with pytest.raises(UnitError):
        convert(1.0, source, target)


def test_normalize_unit() -> None:
    assert normalize_unit("mg/dl") == "mg/dL"
    assert normalize_unit(" K/uL ") == "10*3/uL"
    assert normalize_unit("10*9/L") == "10*9/L"
    assert normalize_unit("{INR}") == "{INR}"
    assert normalize_unit("furlongs/L") is None
    assert normalize_unit("") is None
    assert normalize_unit(None) is None
