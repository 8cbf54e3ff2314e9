from __future__ import annotations

import pytest

from fhir_mappings.units import UnitError, conversion_factor, convert, normalize_unit


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


@pytest.mark.parametrize(
    ("value", "source", "target", "expected", "molar_mass"),
    [
        # Hemoglobin, monomer basis: 1 g/dL = 10 g/L ÷ 16114.5 g/mol = 0.62056 mmol/L.
        (1.0, "g/dL", "mmol/L", 0.620559, 16114.5),
        # Bilirubin: 1 mg/dL = 10 mg/L ÷ 584.66 g/mol = 17.1039 µmol/L.
        (1.0, "mg/dL", "umol/L", 17.103958, 584.66),
        (20.5, "µmol/L", "mg/dL", 1.198553, 584.66),  # micro sign
        # Albumin: 1 µmol/L × 66500 g/mol = 66.5 mg/L = 0.0665 g/L.
        (600, "umol/L", "g/L", 39.9, 66500.0),
        (3.5, "g/dL", "g/L", 35, None),
        (2.0, "ukat/L", "U/L", 120, None),  # 1 µkat/L = 60 µmol/min/L
        (1500, "/mm3", "10*9/L", 1.5, None),
        (1500, "cells/mm3", "10*9/L", 1.5, None),
        (250, "x10^9/L", "10*9/L", 250, None),
        (250, "G/L", "10*9/L", 250, None),  # French labs: giga per litre, not gauss
        (7.2, "Tsd/µl", "10*9/L", 7.2, None),  # German labs: "Tausend" per microlitre
        (250, "Tsd./µL", "10*9/L", 250, None),
        (4.5, "T/L", "10*12/L", 4.5, None),  # tera per litre, not tesla
        (4.5, "Mio/µl", "10*12/L", 4.5, None),  # German "Millionen" per microlitre
        (6.1, "Mrd/l", "10*9/L", 6.1, None),  # German "Milliarden" per litre
        (3.0, "x10(9)/L", "10*9/L", 3.0, None),
        (70, "in", "cm", 177.8, None),
        (3000, "10*6/L", "10*9/L", 3, None),
        (0.5, "min", "s", 30, None),
        (42, "sec", "s", 42, None),
        (4.2, "mIU/mL", "[IU]/L", 4.2, None),
        (1.1, "{INR}", "{INR}", 1.1, None),
        (150, "lbs", "kg", 68.0388555, None),
        (600, "mg/24.h", "g/(24.h)", 0.6, None),  # the feed means per 24 h, not mg·h/24
        (1.2, "g/day", "g/(24.h)", 1.2, None),
        (1.5, "mL/sec", "mL/min", 90, None),
    ],
)
def test_more_conversions(
    value: float, source: str, target: str, expected: float, molar_mass: float | None
) -> None:
    assert convert(value, source, target, molar_mass=molar_mass) == pytest.approx(expected)


def test_molar_mass_is_used_only_across_mass_and_substance() -> None:
    # Same dimension: the molar mass must not change the factor.
    assert convert(1.0, "mg/dL", "g/L", molar_mass=584.66) == pytest.approx(0.01)
    # Different dimensions that a molar mass cannot bridge.
    with pytest.raises(UnitError):
        convert(1.0, "mg/dL", "s", molar_mass=584.66)


@pytest.mark.parametrize(
    ("text", "ucum"),
    [
        ("µmol/L", "umol/L"),  # micro sign U+00B5
        ("μmol/L", "umol/L"),  # Greek small mu U+03BC
        ("µg/L", "ug/L"),  # folded, then valid UCUM
        ("mg / dL", "mg/dL"),
        ("IU/L", "[IU]/L"),
        ("x10E3/uL", "10*3/uL"),
        ("10^9/L", "10*9/L"),
        ("G/L", "10*9/L"),
        ("g/L", "g/L"),  # case matters: not the G/L alias
        ("seconds", "s"),
        ("mL/min/1.73 m2", "mL/min/{1.73_m2}"),
        ("%", "%"),
        ("mmHg", "mm[Hg]"),  # blood pressure as most monitors and EHRs write it
        ("mm Hg", "mm[Hg]"),
        # US "mc" for micro and "cmm" for cubic millimetre.
        ("mcg/dL", "ug/dL"),
        ("mcmol/L", "umol/L"),
        ("K/mcL", "10*3/uL"),
        ("cells/mcL", "/uL"),
        ("x10^3/mcL", "10*3/uL"),
        ("thou/cmm", "10*3/mm3"),
        ("cells/cmm", "/mm3"),
        # Old and lower-case lab spellings.
        ("gm/dl", "g/dL"),
        ("GM/DL", "g/dL"),
        ("g%", "g/dL"),  # grams per 100 mL, as Indian and older lab systems write it
        ("mg%", "mg/dL"),
        ("u/L", "U/L"),  # valid UCUM for daltons per litre, which no lab reports
        ("iu/L", "[IU]/L"),
        ("SEC", "s"),
        ("Sekunden", "s"),
        ("x1000/uL", "10*3/uL"),
        ("X10^9/L", "10*9/L"),
        ("Gpt/l", "10*9/L"),
        ("MIU/ML", "m[IU]/mL"),
        ("mIU/L", "m[IU]/L"),
        ("uIU/mL", "u[IU]/mL"),
        ("µIU/mL", "u[IU]/mL"),
        ("mcIU/mL", "u[IU]/mL"),
        # Powers of ten per volume, in the spellings of UK, German and French labs.
        ("x10^9/l", "10*9/L"),
        ("×10⁹/L", "10*9/L"),
        ("10⁹/l", "10*9/L"),
        ("10E9/l", "10*9/L"),
        ("x10(9)/L", "10*9/L"),
        ("10*3/µl", "10*3/uL"),
        ("x 10^12 / l", "10*12/L"),
        ("10^09/L", "10*9/L"),
        ("G/l", "10*9/L"),
        ("T/l", "10*12/L"),
        ("Tpt/l", "10*12/L"),
    ],
)
def test_normalize_aliases_and_folding(text: str, ucum: str) -> None:
    assert normalize_unit(text) == ucum


@pytest.mark.parametrize(
    "text", ["cells", "IU", "   ", "K/", "mg/dL/", "x10", "per uL", "U/L)", "lakh/mm3"]
)
def test_normalize_unknown(text: str) -> None:
    assert normalize_unit(text) is None


def test_a_power_of_ten_needs_its_mark() -> None:
    # "1019/L" is UCUM for 1019 per litre, never read as 10^19 per litre; a power of ten
    # per decilitre is no spelling a lab uses, and is not guessed.
    assert normalize_unit("1019/L") == "1019/L"
    assert normalize_unit("x10^9/dL") is None
    assert convert(2.5, normalize_unit("x10^9/l") or "", "10*3/uL") == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("Cel", "K"),  # offset units: no single factor
        ("mL/min/1.73 m2", "mL/min"),  # eGFR text form, still not a clearance
        ("[IU]/L", "U/L"),  # IU and U differ unless the analyte says otherwise
        ("cells", "10*9/L"),
        ("10*9/L", "cells"),
    ],
)
def test_more_refused_conversions(source: str, target: str) -> None:
    with pytest.raises(UnitError):
        convert(1.0, source, target)


def test_factors_are_cached_per_unit_pair() -> None:
    conversion_factor.cache_clear()
    convert(1.0, "umol/L", "mg/dL", molar_mass=113.12)
    convert(2.0, "umol/L", "mg/dL", molar_mass=113.12)
    convert(2.0, "umol/L", "mg/dL", molar_mass=584.66)
    info = conversion_factor.cache_info()
    # Second call reuses the factor; a different molar mass is a different entry.
    assert (info.hits, info.misses) == (1, 2)


def test_count_annotations_are_worth_one_but_others_are_kept() -> None:
    # {cells} only says what is counted (UCUM: annotations equal 1) …
    assert convert(1200, "{cells}/uL", "10*9/L") == pytest.approx(1.2)
    assert convert(3, "10*3{cells}/uL", "10*9/L") == pytest.approx(3.0)
    # … while a body-surface normalisation changes the quantity and must not be dropped.
    with pytest.raises(UnitError):
        convert(60, "mL/min/{1.73_m2}", "mL/min")


def test_mc_is_read_as_micro_only_before_a_unit() -> None:
    # Valid UCUM codes that begin "mc" are left as they are (millicandela), and "mc" with
    # no unit after it is nothing.
    assert normalize_unit("mcd") == "mcd"
    assert normalize_unit("mc") is None
    assert convert(3200.0, "cells/mcL", "10*9/L") == pytest.approx(3.2)
