"""The request depth guard reads the JSON text: it must agree with the nesting of the
parsed value for any JSON, whatever its strings hold (brackets, quotes, escapes)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_hooks.api.wire import json_too_deep


def nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    return 0


# Strings made of the characters that could fool a text-level count.
tricky = st.text(alphabet='[]{}"\\ab\n\u00e9', max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | tricky,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(values, st.booleans())
def test_agrees_with_the_parsed_nesting_for_any_json(value: Any, spaced: bool) -> None:
    # Both serialisers: compact (orjson) and with spaces and \uXXXX escapes (json).
    raw = json.dumps(value).encode() if spaced else orjson.dumps(value)
    depth = nesting(orjson.loads(raw))
    for limit in range(max(depth - 2, 0), depth + 2):
        assert json_too_deep(raw, limit) is (depth > limit), (raw, limit, depth)


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"1", 0),
        (b'"[[[[["', 0),
        (b"[]", 1),
        (b'{"a": "}}]]"}', 1),
        (b'["\\\\", ["\\"[["]]', 2),
        (b'[{"k": [{"x": "\\\\\\"]"}]}]', 4),
    ],
)
def test_brackets_inside_strings_and_escapes_do_not_count(raw: bytes, depth: int) -> None:
    assert nesting(orjson.loads(raw)) == depth  # the example itself is right
    assert not json_too_deep(raw, depth)
    if depth:
        assert json_too_deep(raw, depth - 1)


def test_a_hostile_body_is_refused_without_recursion() -> None:
    raw = b"[" * 1000 + b"]" * 1000
    assert json_too_deep(raw, 64)
    assert not json_too_deep(raw, 1000)
