"""CDS Hooks 2.0 wire-format validation against the vendored JSON Schema.

Validators are compiled once per process; a request is checked in one pass and the first
error (deepest path) is reported so the EHR's integrator sees which field was wrong.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
MAIN_ID = "https://schemas.example.test/cds-hooks/2.0/cds-hooks-2.0.schema.json"


@lru_cache(maxsize=1)
def _registry() -> Registry[Any]:
    docs = [json.loads(p.read_text()) for p in sorted(SCHEMA_DIR.rglob("*.schema.json"))]
    return Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)


@lru_cache(maxsize=32)
def validator(definition: str) -> Draft202012Validator:
    """Validator for `$defs/<definition>` of the CDS Hooks schema, or a hook context
    schema when `definition` is "hooks/<hook>"."""
    if definition.startswith("hooks/"):
        ref = MAIN_ID.rsplit("/", 1)[0] + f"/{definition}.context.schema.json"
    else:
        ref = f"{MAIN_ID}#/$defs/{definition}"
    return Draft202012Validator({"$ref": ref}, registry=_registry(), format_checker=FormatChecker())


def first_error(instance: Any, definition: str) -> str | None:
    """ "<json path>: <message>" of the most specific error, or None when valid."""
    best = None
    for error in validator(definition).iter_errors(instance):
        leaf = error
        while leaf.context:
            leaf = max(leaf.context, key=lambda e: len(e.absolute_path))
        if best is None or len(leaf.absolute_path) > len(best.absolute_path):
            best = leaf
    if best is None:
        return None
    path = "/" + "/".join(str(p) for p in best.absolute_path)
    message = best.message
    if len(message) > 200:  # a message may quote a whole FHIR resource
        message = message[:200] + "…"
    return f"{path}: {message}"


def json_depth(value: Any, limit: int) -> bool:
    """True if `value` nests deeper than `limit` (iterative: no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False
