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
