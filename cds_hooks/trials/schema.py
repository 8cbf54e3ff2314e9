"""The `rule` part of trial-definition.schema.json, generated from the parameter models.

`python -m cds_hooks.trials.schema` rewrites the committed schema file; a unit test fails
when the file and the models disagree, so the schema can never drift from the code.
A rule is dispatched on its `type` by if/then (not oneOf), so a validation error points
at the bad key of the right rule type instead of listing every type it is not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cds_hooks.trials.params import RULE_ADAPTER, RULE_MODELS

SCHEMA_PATH = Path(__file__).resolve().parent / "trial-definition.schema.json"
_RULE_REF = {"$ref": "#/$defs/rule"}


def _replace_unions(node: Any) -> Any:
    """Every nested rule (a discriminated union in pydantic's output) → a $ref to `rule`."""
    if isinstance(node, dict):
        if "discriminator" in node:
            return dict(_RULE_REF)
        return {k: _replace_unions(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_replace_unions(v) for v in node]
    return node


def rule_defs() -> dict[str, Any]:
    generated = RULE_ADAPTER.json_schema(ref_template="#/$defs/{model}")
    defs: dict[str, Any] = {
        name: _replace_unions(schema) for name, schema in sorted(generated["$defs"].items())
    }
    types = sorted(RULE_MODELS)
    defs["rule"] = {
        "description": "One rule; its keys are those of the model named by `type`.",
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": types}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": t}}, "required": ["type"]},
                "then": {"$ref": f"#/$defs/{RULE_MODELS[t].__name__}"},
            }
            for t in types
        ],
    }
    return defs


def schema_with_rules(schema: dict[str, Any]) -> dict[str, Any]:
    keep = {k: v for k, v in schema.get("$defs", {}).items() if k == "criterion"}
    return {**schema, "$defs": {**keep, **rule_defs()}}


def main() -> int:
    current = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    SCHEMA_PATH.write_text(
        json.dumps(schema_with_rules(current), indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
