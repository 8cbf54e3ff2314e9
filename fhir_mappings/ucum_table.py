"""The UCUM table: base-unit magnitude and dimension of the units labs send, precomputed.

Building the UCUM registry (ucumvert over pint) costs most of a second in every new
process, which a one-patient command (`trial-cds screen`) or a batch worker pays before
its first conversion. This table holds, for every unit the code sets and alias table name
plus the common lab units below, what the registry says that unit *is*: its magnitude in
base units and its dimension. `units.py` converts between two units of the table by the
ratio of their magnitudes when their dimensions agree, which is what the registry itself
computes; any unit not in the table still goes through the registry, so the table only
ever saves time, never changes an answer (a test rebuilds it with the registry and
compares).

    python -m fhir_mappings.ucum_table          # rewrite ucum_table.json
    python -m fhir_mappings.ucum_table --check  # exit 1 if the file is not what it would write
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

TABLE_FILE = Path(__file__).with_name("ucum_table.json")
TERMINOLOGY = Path(__file__).with_name("terminology")

# Units real lab feeds and mCODE/US Core examples send, in UCUM (beyond those the code sets
# name): concentrations, counts, enzyme activities, rates, times, sizes, pressures.
COMMON_UNITS = (
    "g/dL", "g/L", "mg/dL", "mg/L", "ug/mL", "ug/L", "ng/mL", "ng/L", "pg/mL", "ug/dL",
    "mol/L", "mmol/L", "umol/L", "nmol/L", "pmol/L", "meq/L", "mmol/mol",
    "U/L", "U/mL", "kU/L", "mU/mL", "[IU]/L", "[IU]/mL", "m[IU]/mL", "m[IU]/L", "k[IU]/L",
    "10*3/uL", "10*6/uL", "10*9/L", "10*12/L", "10*3/mm3", "10*6/mm3", "/uL", "/mm3", "/L",
    "/nL", "/pL", "%", "1", "fL", "pg", "g", "mg", "ug", "kg", "[lb_av]", "[oz_av]",
    "mL/min", "mL/s", "L/min", "mL/h", "L", "dL", "mL", "uL",
    "s", "min", "h", "d", "wk", "mo", "a",
    "mm", "cm", "m", "[in_i]", "um", "mm2", "cm2", "m2", "cm3", "mm3",
    "mm[Hg]", "kPa", "cm[H2O]", "mm/h", "kg/m2",
    "g/(24.h)", "mg/(24.h)", "g/d", "mg/d", "mg/g", "g/g", "mg/mmol", "g/mol",
)  # fmt: skip


def _terminology_units() -> Iterator[str]:
    """Every unit string the code sets, limits and alias table name."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("unit", "canonical_unit") and isinstance(value, str):
                    yield value
                elif key == "unit_equivalents" and isinstance(value, dict):
                    yield from (str(u) for pair in value.items() for u in pair)
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    for path in sorted(TERMINOLOGY.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if path.name == "unit_aliases.json":
            yield from (str(v) for v in data.get("aliases", {}).values())
        elif not path.name.endswith(".schema.json"):
            yield from walk(data)


def _entry(registry: Any, unit: str) -> dict[str, Any] | None:
    """The table row for `unit`, or None when the registry cannot say what it is as a plain
    multiple of base units (not UCUM, an annotation alone, an offset scale such as Cel):
    those stay with the registry at run time."""
    try:
        quantity = registry.from_ucum(unit)
        # The run-time fallback divides two quantities; units that refuse it (offsets)
        # must keep refusing, so they are left to the registry.
        (quantity / quantity).to("dimensionless")
        base = quantity.to_base_units()
    except Exception:  # ucumvert raises several parser/pint types for bad input
        return None
    return {
        "magnitude": float(base.magnitude),
        "dimension": {str(k): float(v) for k, v in sorted(dict(base.dimensionality).items())},
    }


def build() -> dict[str, Any]:
    # Imported here: reading the table (every screen) needs neither.
    from importlib import metadata

    from ucumvert import PintUcumRegistry

    registry = PintUcumRegistry()
    units: dict[str, Any] = {}
    for unit in sorted({*COMMON_UNITS, *_terminology_units()}):
        entry = _entry(registry, unit)
        if entry is not None:
            units[unit] = entry
    return {
        "_meta": {
            "description": "UCUM units as a magnitude in base units and a dimension, "
            "precomputed from the UCUM registry (ucumvert over pint). Generated: do not edit.",
            "generated_by": "python -m fhir_mappings.ucum_table",
            "ucumvert": metadata.version("ucumvert"),
            "pint": metadata.version("pint"),
        },
        "units": units,
    }


def render(table: Mapping[str, Any]) -> str:
    return json.dumps(table, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the file")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        current = TABLE_FILE.read_text(encoding="utf-8") if TABLE_FILE.exists() else ""
        if current != text:
            print(f"{TABLE_FILE} is out of date: run python -m fhir_mappings.ucum_table")
            return 1
        return 0
    TABLE_FILE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
