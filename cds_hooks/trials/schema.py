"""The `rule` part of trial-definition.schema.json, generated from the rule classes.

`python -m cds_hooks.trials.schema` rewrites the committed schema file; a unit test fails
when the file and the classes disagree, so the schema can never drift from the code.
A rule is dispatched on its `type` by if/then (not oneOf), so a validation error points
at the bad key of the right rule type instead of listing every type it is not.

Each field's type maps to JSON Schema (str, int, float, bool, Literal, list, dict[str, …],
`X | None`, a nested rule), with the `Keywords` of its `Annotated` metadata and of its
`spec`; keys are sorted, properties keep the class's field order.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import types
import typing
from typing import Annotated, Any, Literal, Union

from cds_hooks.trials.params import (
    RULE_CLASSES,
    RULE_MODELS,
    SCHEMA_PATH,
    Keywords,
    Rule,
    RuleParams,
    field_types,
)

_RULE_REF = {"$ref": "#/$defs/rule"}
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _sorted(node: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(node.items()))


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema of one field type."""
    if tp is Rule:
        return dict(_RULE_REF)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Annotated:
        node = type_schema(args[0])
        for meta in tp.__metadata__:
            if isinstance(meta, Keywords):
                node.update(meta.values)
        return _sorted(node)
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    if origin is Literal:
        if not all(isinstance(a, str) for a in args):
            raise TypeError(f"only string literals are supported: {tp!r}")
        if len(args) == 1:
            return {"const": args[0], "type": "string"}
        return {"enum": list(args), "type": "string"}
    if origin is list:
        return {"items": type_schema(args[0]), "type": "array"}
    if origin is dict and args[0] is str:
        return {"additionalProperties": type_schema(args[1]), "type": "object"}
    optional = len(args) == 2 and type(None) in args
    if (origin is Union or origin is types.UnionType) and optional:
        (inner,) = (a for a in args if a is not type(None))
        return {"anyOf": [type_schema(inner), {"type": "null"}]}
    raise TypeError(f"no JSON Schema for field type {tp!r}")


def _field_schema(f: dataclasses.Field[Any], tp: Any) -> dict[str, Any]:
    node = type_schema(tp)
    keywords = f.metadata.get("schema", {})
    if "anyOf" in node:  # the keywords constrain the value, not the null beside it
        node["anyOf"][0] = _sorted({**node["anyOf"][0], **keywords})
    else:
        node.update(keywords)
    if "x-reads" in f.metadata:
        node["x-reads"] = f.metadata["x-reads"]
    if f.default is not dataclasses.MISSING:
        node["default"] = f.default
    elif f.default_factory is not dataclasses.MISSING:
        node["default"] = f.default_factory()
    return _sorted(node)


def model_schema(model: type[RuleParams]) -> dict[str, Any]:
    hints = field_types(model)
    fields = dataclasses.fields(model)  # type: ignore[arg-type]
    node: dict[str, Any] = {
        "additionalProperties": False,
        "properties": {f.name: _field_schema(f, hints[f.name]) for f in fields},
        "required": [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ],
        "type": "object",
    }
    if model.DESCRIPTION:
        node["description"] = inspect.cleandoc(model.DESCRIPTION)
    return _sorted(node)


def rule_defs() -> dict[str, Any]:
    defs: dict[str, Any] = {
        m.__name__: model_schema(m) for m in sorted(RULE_CLASSES, key=lambda m: m.__name__)
    }
    types_ = sorted(RULE_MODELS)
    defs["rule"] = {
        "description": "One rule; its keys are those of the model named by `type`.",
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": types_}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": t}}, "required": ["type"]},
                "then": {"$ref": f"#/$defs/{RULE_MODELS[t].__name__}"},
            }
            for t in types_
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
