"""The precomputed UCUM table gives the registry's own answers, and is what the registry
would generate today."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from itertools import product

import pytest

from fhir_mappings import ucum_table, units
from fhir_mappings.units import UnitError

TABLE_UNITS = sorted(json.loads(ucum_table.TABLE_FILE.read_text(encoding="utf-8"))["units"])
# No molar mass, and creatinine's (what bridges µmol/L and mg/dL).
MOLAR_MASSES = (None, 113.12)


@pytest.fixture
def parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parse each unit once: the registry path re-parses both units on every call, and
    comparing every pair must not take minutes."""
    registry = units._registry()
    monkeypatch.setattr(registry, "from_ucum", lru_cache(maxsize=None)(registry.from_ucum))


def _outcome(factor_of: object, *args: object) -> float | str:
    try:
        return float(factor_of(*args))  # type: ignore[operator]
    except UnitError:
        return "refused"


def test_committed_table_is_what_the_registry_generates() -> None:
    committed = json.loads(ucum_table.TABLE_FILE.read_text(encoding="utf-8"))
    assert committed["units"] == ucum_table.build()["units"], (
        "run: python -m fhir_mappings.ucum_table"
    )


def test_every_code_set_unit_is_in_the_table() -> None:
    missing = set(ucum_table._terminology_units()) - set(TABLE_UNITS)
    # Annotation-only units ({score}, {INR}) and offset scales are the registry's to answer.
    assert all(u.startswith("{") for u in missing), missing


@pytest.mark.usefixtures("parsed_once")
@pytest.mark.parametrize("molar_mass", MOLAR_MASSES)
def test_table_factor_equals_registry_factor_for_every_pair(molar_mass: float | None) -> None:
    differ = []
    for source, target in product(TABLE_UNITS, TABLE_UNITS):
        table = _outcome(units._table_factor, source, target, molar_mass)
        registry = _outcome(units._registry_factor, source, target, molar_mass)
        same = (
            table == registry
            if isinstance(table, str) or isinstance(registry, str)
            else math.isclose(table, registry, rel_tol=1e-12)
        )
        if not same:
            differ.append((source, target, table, registry))
    assert differ == []


def test_table_bridges_substance_and_mass_only_with_a_molar_mass() -> None:
    with pytest.raises(UnitError):
        units._table_factor("umol/L", "mg/dL", None)
    # 88.4 µmol/L creatinine is 1 mg/dL.
    factor = units._table_factor("umol/L", "mg/dL", 113.12)
    assert factor is not None
    assert factor * 88.4 == pytest.approx(1.0, 1e-3)


def test_units_outside_the_table_still_convert_through_the_registry() -> None:
    assert "[ft_i]" not in TABLE_UNITS
    assert units.convert(1.0, "[ft_i]", "cm") == pytest.approx(30.48)
    assert units.normalize_unit("[ft_i]") == "[ft_i]"
    with pytest.raises(UnitError):
        units.convert(1.0, "furlongs", "cm")
