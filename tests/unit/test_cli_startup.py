"""`trial-cds screen` imports only what screening one patient needs.

Judged by the modules a real `trial-cds screen` process had loaded when it exited (its
`sys.modules`), not by a wall-clock time: the machine's load must not decide a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cds_hooks.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "fixtures" / "patients" / "likely_eligible" / "bundle.json"
# What made the start slow (jsonschema's format checkers build an RFC 3987 grammar at
# import), and what other commands need but screening never does. (pydantic is needed:
# every rule's parameters are a pydantic model.)
HEAVY = (
    "jsonschema",
    "rfc3987_syntax",
    "httpx",
    "fastapi",
    "uvicorn",
    "fhir",
    "dask",
    "distributed",
    "numpy",
    "pandas",
    "pyarrow",
    "matplotlib",
    "jinja2",
    "rich",
    "asyncio",  # ~60 ms: only the service and load-fixtures need an event loop
    # ~250 ms with its models: rules are plain dataclasses, definitions checked by schema
    "pydantic",
    "pydantic_core",
)


# Runs the installed `trial-cds` console script as its own process, then records what
# that process imported.
DRIVER = """
import json, runpy, sys
record, script = sys.argv[1], sys.argv[2]
sys.argv = sys.argv[2:]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    with open(record, "w") as out:
        json.dump(sorted(sys.modules), out)
"""


def imported_by(tmp_path: Path, *argv: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    script = Path(sys.executable).with_name("trial-cds")
    record = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(record), str(script), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    return set(json.loads(record.read_text())), done


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_screen_imports_no_heavy_module(tmp_path: Path) -> None:
    modules, done = imported_by(tmp_path, "screen", str(BUNDLE), "--as-of", "2026-03-02")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scrt-capeox-serplulimab-rectal (NCT06850103, recruiting): likely_eligible" in (
        done.stdout
    )
    # The import log really covers the screening path (engine, mappings, units); every
    # unit this patient's labs use is in the precomputed UCUM table, so the UCUM registry
    # (ucumvert/pint, most of a second to build) is never needed.
    assert {"cds_hooks.eligibility.engine", "fhir_mappings.record", "fhir_mappings.units"} <= (
        modules
    )
    assert top_level(modules) & {*HEAVY, "ucumvert", "pint"} == set()
    # Only the named command's module is imported (and its parser built).
    commands = {m for m in modules if m.startswith("cds_hooks.commands.")}
    assert commands == {"cds_hooks.commands.screen"}


MINIMAL_ARGUMENTS = {
    "screen": ["b.json"],
    "prescreen": ["export", "--out", "out"],
    "serve": [],
    "load-fixtures": ["--fhir-server", "http://fhir.example/fhir"],
    "trials": ["check"],
}


def test_every_command_is_listed_and_each_parses_alone() -> None:
    assert set(MINIMAL_ARGUMENTS) == set(COMMANDS)
    every = build_parser()
    for name, rest in MINIMAL_ARGUMENTS.items():
        alone = build_parser(name)
        for parser in (every, alone):
            args = parser.parse_args([name, *rest])
            assert args.command == name
            assert callable(args.run)
    with pytest.raises(SystemExit):
        build_parser("screen").parse_args(["serve"])


def test_unit_outside_the_table_builds_the_registry_without_numpy(tmp_path: Path) -> None:
    bundle = json.loads(BUNDLE.read_text())
    changed = 0
    for entry in bundle["entry"]:
        quantity = entry["resource"].get("valueQuantity")
        if quantity and quantity.get("code") == "g/dL":
            # 1 g/cL is 10 g/dL: valid UCUM, but not a unit the table holds.
            quantity.update(value=quantity["value"] / 10, unit="g/cL", code="g/cL")
            changed += 1
    assert changed
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    modules, done = imported_by(tmp_path, "screen", str(path), "--as-of", "2026-03-02")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scrt-capeox-serplulimab-rectal (NCT06850103, recruiting): likely_eligible" in (
        done.stdout
    )
    assert "ucumvert" in modules
    assert top_level(modules) & set(HEAVY) == set()


def test_help_imports_no_command_dependencies(tmp_path: Path) -> None:
    modules, done = imported_by(tmp_path, "--help")
    assert done.returncode == 0
    assert "prescreen" in done.stdout
    assert top_level(modules) & {*HEAVY, "ucumvert", "pint", "orjson"} == set()
    assert "cds_hooks.eligibility" not in modules
