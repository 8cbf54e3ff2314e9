"""Validate CDS Hooks payloads in tests against the vendored CDS Hooks 2.0 schema.

The strict variant (unknown members refused) is used for what we produce, so a typo such
as `selectionBehaviour` in our own cards fails the tests."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[2] / "cds_hooks" / "schemas"
LENIENT_ID = "https://schemas.example.test/cds-hooks/2.0/cds-hooks-2.0.schema.json"


@lru_cache(maxsize=1)
def _docs() -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in sorted(SCHEMAS.rglob("*.schema.json"))}


@lru_cache(maxsize=1)
def _registry() -> Registry[Any]:
    return Registry().with_resources(
        (d["$id"], Resource.from_contents(d)) for d in _docs().values()
    )


@lru_cache(maxsize=64)
def validator(definition: str, strict: bool = True) -> Draft202012Validator:
    main = _docs()["cds-hooks-2.0.strict.schema.json" if strict else "cds-hooks-2.0.schema.json"]
    if definition.startswith("hooks/"):
        ref = LENIENT_ID.rsplit("/", 1)[0] + f"/{definition}.context.schema.json"
    else:
        ref = f"{main['$id']}#/$defs/{definition}"
    return Draft202012Validator({"$ref": ref}, registry=_registry(), format_checker=FormatChecker())


def errors(instance: Any, definition: str, strict: bool = True) -> list[str]:
    return [
        f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator(definition, strict).iter_errors(instance)
    ]


def assert_valid(instance: Any, definition: str) -> None:
    problems = errors(instance, definition)
    assert not problems, f"not a valid {definition}: {problems[:5]}"


def assert_response_valid(status: int, body: Any, path: str) -> None:
    """Every response body of the service, whatever the endpoint and status."""
    if status >= 400:
        assert body["resourceType"] == "OperationOutcome", body
        assert body["issue"][0]["diagnostics"], body
        return
    if path.rstrip("/").endswith("/cds-services"):
        assert_valid(body, "discoveryResponse")
    elif path.endswith("/feedback"):
        assert isinstance(body, dict)
    else:
        assert_valid(body, "cardsResponse")
