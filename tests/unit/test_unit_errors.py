"""Why a unit conversion is refused, word for word, on each path that refuses it: the
precomputed table, the UCUM registry (units it cannot parse, dimensions that differ) and a
molar mass that cannot bridge the two units. The message may end up in a criterion's
reason (a default ULN that cannot be converted)."""

from __future__ import annotations

import pytest

from fhir_mappings.units import UnitError, conversion_factor, convert


@pytest.mark.parametrize(
    ("source", "target", "molar_mass", "message"),
    [
        # Both in the table, different dimensions and no molar mass to bridge them.
        ("mg/dL", "mmol/L", None, "cannot convert 'mg/dL' to 'mmol/L'"),
        # Not UCUM at all: the registry cannot read it.
        ("furlong", "m", None, "unit 'furlong' or 'm' is not UCUM"),
        # UCUM, outside the table, different dimensions, no molar mass.
        ("[ft_i]", "g", None, "cannot convert '[ft_i]' to 'g'"),
        # A molar mass, but the units are neither substance ↔ mass.
        ("[ft_i]", "s", 100.0, "cannot convert '[ft_i]' to 's'"),
        # Substance → mass, but the rest of the dimension still differs (per foot).
        ("mol/[ft_i]", "g", 100.0, "cannot convert 'mol/[ft_i]' to 'g'"),
    ],
)
def test_each_refusal_says_which_units(
    source: str, target: str, molar_mass: float | None, message: str
) -> None:
    with pytest.raises(UnitError) as caught:
        conversion_factor(source, target, molar_mass)
    assert str(caught.value) == message


def test_convert_names_the_units_as_normalised() -> None:
    with pytest.raises(UnitError) as caught:
        convert(1.0, "ft_i", "g")
    assert str(caught.value) == "unit 'ft_i' not recognised"
    with pytest.raises(UnitError) as unknown_target:
        convert(1.0, "g", "furlong")
    assert str(unknown_target.value) == "unit 'furlong' not recognised"
    with pytest.raises(UnitError) as different:
        convert(1.0, "[ft_i]", "g")
    assert str(different.value) == "cannot convert '[ft_i]' to 'g'"


@pytest.mark.parametrize(
    ("source", "target"),
    [
        # International units measure biological activity: no count, mass or enzyme unit.
        ("[IU]/L", "10*9/L"),
        ("[IU]/mL", "/uL"),
        ("[IU]/L", "U/L"),
        ("[IU]/L", "g/L"),
        # One arbitrary unit is not another.
        ("[IU]/mL", "[arb'U]/mL"),
        ("[CFU]/mL", "/mL"),
    ],
)
def test_arbitrary_units_convert_only_to_themselves(source: str, target: str) -> None:
    with pytest.raises(UnitError) as raised:
        conversion_factor(source, target)
    assert str(raised.value) == f"cannot convert {source!r} to {target!r} (arbitrary units)"


@pytest.mark.parametrize(
    ("source", "target", "factor"),
    [
        ("m[IU]/mL", "[IU]/L", 1.0),
        ("[iU]/L", "m[IU]/mL", 1.0),
        ("[IU]/L", "[IU]/mL", 0.001),
    ],
)
def test_arbitrary_units_convert_between_their_own_multiples(
    source: str, target: str, factor: float
) -> None:
    assert conversion_factor(source, target) == pytest.approx(factor)


def test_an_analyte_that_treats_iu_as_u_still_converts() -> None:
    # Enzyme activities: the code set says IU/L and U/L are one unit for this analyte.
    assert convert(40.0, "IU/L", "U/L", equivalents={"[IU]/L": "U/L"}) == 40.0
