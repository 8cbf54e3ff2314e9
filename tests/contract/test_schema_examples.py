from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.api.wire import first_error
from tests.support.cds_schema import errors

EXAMPLES = Path(__file__).resolve().parent / "examples"
MANIFEST: list[dict[str, Any]] = [
    entry
    for path in sorted(EXAMPLES.glob("manifest.*.json"))
    for entry in json.loads(path.read_text())
]


def test_manifest_lists_every_example() -> None:
    listed = {e["file"] for e in MANIFEST}
    on_disk = {
        str(p.relative_to(EXAMPLES))
        for p in EXAMPLES.rglob("*.json")
        if not p.name.startswith("manifest.")
    }
    assert listed == on_disk
    assert len(MANIFEST) == 83


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_example_meets_expectation(entry: dict[str, Any], strict: bool) -> None:
    instance = json.loads((EXAMPLES / entry["file"]).read_text())
    if entry.get("unwrap"):
        instance = instance[entry["unwrap"]]
    expect = entry.get("expect_strict", entry["expect"]) if strict else entry["expect"]
    found = errors(instance, entry["def"], strict=strict)
    assert (not found) == (expect == "valid"), found


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_service_validator_agrees(entry: dict[str, Any]) -> None:
    """The service validates requests with jsonschema-rs (api.wire); it must reach the same
    verdict as the reference `jsonschema` package on every example."""
    instance = json.loads((EXAMPLES / entry["file"]).read_text())
    if entry.get("unwrap"):
        instance = instance[entry["unwrap"]]
    found = first_error(instance, entry["def"])
    assert (found is None) == (entry["expect"] == "valid"), found
