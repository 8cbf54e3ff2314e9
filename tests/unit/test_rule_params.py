"""Rules built from definition JSON without a validation library (`parse_rule`), and the
schema generator's type mapping: the schema the loader validates against is what makes
that safe, so both sides are tested here."""

from __future__ import annotations

import typing
from typing import Any, Literal

import pytest

from cds_hooks.trials.params import (
    RULE_CLASSES,
    RULE_MODELS,
    AllOf,
    LabThreshold,
    OrderedCategory,
    RuleError,
    field_types,
    parse_rule,
)
from cds_hooks.trials.schema import type_schema

ANC: dict[str, Any] = {
    "type": "lab_threshold",
    "label": "ANC",
    "code_set": "anc",
    "op": ">=",
    "value": 2,
    "unit": "10*9/L",
}


def test_rule_type_names_read_from_source_text_match_the_evaluated_types() -> None:
    for name, model in RULE_MODELS.items():
        assert typing.get_args(field_types(model)["type"]) == (name,)
    assert set(RULE_MODELS.values()) == set(RULE_CLASSES)


def test_numbers_take_the_field_type_and_nested_rules_are_built() -> None:
    rule = parse_rule({"type": "all_of", "rules": [ANC, {**ANC, "value": 1.5}]})
    assert isinstance(rule, AllOf)
    first, second = rule.rules
    assert isinstance(first, LabThreshold)
    assert isinstance(first.value, float)
    assert first.value == 2.0
    assert isinstance(second, LabThreshold)
    assert second.value == 1.5
    age = parse_rule({"type": "age_range", "label": "Age", "min": 18.0})
    assert age.as_raw()["min"] == 18
    assert isinstance(age.as_raw()["min"], int)


def test_defaults_are_filled_and_containers_are_not_shared_with_the_definition() -> None:
    raw: dict[str, Any] = {
        "type": "ordered_category",
        "label": "cT",
        "code_set": "ct",
        "values": "ct_values",
        "scale": ["T1", "T2"],
        "aliases": {"T2": ["T2"]},
        "min": "T1",
        "max": "T2",
    }
    rule = parse_rule(raw)
    assert isinstance(rule, OrderedCategory)
    raw["scale"].append("T3")
    raw["aliases"]["T2"].append("T3")
    assert rule.scale == ["T1", "T2"]
    assert rule.aliases == {"T2": ["T2"]}
    assert parse_rule({"type": "deceased"}).as_raw() == {
        "type": "deceased",
        "label": "Patient deceased",
    }


def test_structurally_equal_rules_are_equal() -> None:
    assert parse_rule(ANC) == parse_rule(dict(ANC))
    assert parse_rule(ANC) != parse_rule({**ANC, "value": 3})
    assert repr(parse_rule(ANC)) == repr(parse_rule(dict(ANC)))


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ({**ANC, "colour": "red"}, "/", "colour"),
        ({k: v for k, v in ANC.items() if k != "unit"}, "/", "unit"),
        ({**ANC, "op": "=="}, "/op", "=="),
        ({**ANC, "code_set": "Not A Name"}, "/code_set", "Not A Name"),
        ({"type": "all_of", "rules": [{**ANC, "value": "high"}]}, "/rules/0/value", "high"),
        ({"type": "all_of", "rules": []}, "/rules", "[]"),
        ({"type": "no_such_rule"}, "/type", "no_such_rule"),
        ({"type": "age_range", "label": "Age", "min": -1}, "/min", "-1"),
    ],
)
def test_an_invalid_rule_is_refused_naming_the_key(raw: Any, path: str, words: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(raw)
    assert caught.value.path == path
    assert words in caught.value.message


def test_type_schema_maps_every_supported_type_and_refuses_others() -> None:
    assert type_schema(Literal["a"]) == {"const": "a", "type": "string"}
    assert type_schema(Literal["a", "b"]) == {"enum": ["a", "b"], "type": "string"}
    assert type_schema(int | None) == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert type_schema(dict[str, list[bool]]) == {
        "additionalProperties": {"items": {"type": "boolean"}, "type": "array"},
        "type": "object",
    }
    with pytest.raises(TypeError):
        type_schema(tuple[int, ...])
    with pytest.raises(TypeError):
        type_schema(int | str)
