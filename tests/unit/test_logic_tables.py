"""Full truth tables of the three-valued combinators (all_of, any_of, not, first_decided,
when), with leaves whose status is set by the record: a lab above its threshold (met),
below it (not_met), or missing (unknown). The expected tables are written out by hand."""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest

from fhir_mappings.facts import LOINC, ObservationFact
from tests.unit.test_engine_rules import obs, record, run

M, N, U = "met", "not_met", "unknown"

LEAVES: list[tuple[dict[str, Any], tuple[str, str], str, float]] = [
    (
        {
            "type": "lab_threshold",
            "label": "ANC",
            "code_set": "anc",
            "op": ">=",
            "value": 1.5,
            "unit": "10*9/L",
        },
        (LOINC, "751-8"),
        "10*9/L",
        1.5,
    ),
    (
        {
            "type": "lab_threshold",
            "label": "Hb",
            "code_set": "hemoglobin",
            "op": ">=",
            "value": 9,
            "unit": "g/dL",
        },
        (LOINC, "718-7"),
        "g/dL",
        9,
    ),
    (
        {
            "type": "lab_threshold",
            "label": "PLT",
            "code_set": "platelets",
            "op": ">=",
            "value": 100,
            "unit": "10*9/L",
        },
        (LOINC, "777-3"),
        "10*9/L",
        100,
    ),
]


def facts_for(statuses: tuple[str, ...]) -> list[ObservationFact]:
    out = []
    for (_, code, unit, threshold), status in zip(LEAVES, statuses, strict=False):
        if status == M:
            out.append(obs(code, q=threshold * 2, unit=unit))
        elif status == N:
            out.append(obs(code, q=threshold / 2, unit=unit))
    return out


def leaf(i: int) -> dict[str, Any]:
    return LEAVES[i][0]


def evaluate(rule: dict[str, Any], *statuses: str) -> Any:
    return run(rule, record(*facts_for(statuses)))


PAIRS = list(product((M, N, U), repeat=2))
ALL_OF = {
    (M, M): M,
    (M, N): N,
    (M, U): U,
    (N, M): N,
    (N, N): N,
    (N, U): N,
    (U, M): U,
    (U, N): N,
    (U, U): U,
}
ANY_OF = {
    (M, M): M,
    (M, N): M,
    (M, U): M,
    (N, M): M,
    (N, N): N,
    (N, U): U,
    (U, M): M,
    (U, N): U,
    (U, U): U,
}
FIRST_DECIDED = {
    (M, M): M,
    (M, N): M,
    (M, U): M,
    (N, M): N,
    (N, N): N,
    (N, U): N,
    (U, M): M,
    (U, N): N,
    (U, U): U,
}


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_all_of(a: str, b: str) -> None:
    result = evaluate({"type": "all_of", "rules": [leaf(0), leaf(1)]}, a, b)
    assert result.status == ALL_OF[(a, b)]
    if result.status == N:
        # Only the parts that failed are the reason.
        failed = [label for label, s in (("ANC", a), ("Hb", b)) if s == N]
        assert [part.split(" ")[0] for part in result.reason.split("; ")] == failed


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_any_of(a: str, b: str) -> None:
    result = evaluate({"type": "any_of", "rules": [leaf(0), leaf(1)]}, a, b)
    assert result.status == ANY_OF[(a, b)]
    if result.status == M:
        passed = [label for label, s in (("ANC", a), ("Hb", b)) if s == M]
        assert [part.split(" ")[0] for part in result.reason.split("; ")] == passed


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_first_decided(a: str, b: str) -> None:
    result = evaluate({"type": "first_decided", "rules": [leaf(0), leaf(1)]}, a, b)
    assert result.status == FIRST_DECIDED[(a, b)]
    if result.status != U:
        decider = "ANC" if a != U else "Hb"
        assert result.reason.startswith(decider)
    else:
        assert result.reason.count("; ") == 1  # both routes' reasons


@pytest.mark.parametrize(("a", "expected"), [(M, N), (N, M), (U, U)])
def test_not(a: str, expected: str) -> None:
    result = evaluate({"type": "not", "rule": leaf(0)}, a)
    assert result.status == expected
    assert result.reason == evaluate(leaf(0), a).reason


@pytest.mark.parametrize("statuses", list(product((M, N, U), repeat=3)))
def test_three_parts(statuses: tuple[str, str, str]) -> None:
    rules = [leaf(0), leaf(1), leaf(2)]
    all_of = evaluate({"type": "all_of", "rules": rules}, *statuses).status
    any_of = evaluate({"type": "any_of", "rules": rules}, *statuses).status
    assert all_of == (N if N in statuses else M if set(statuses) == {M} else U)
    assert any_of == (M if M in statuses else N if set(statuses) == {N} else U)


# when(condition, then, otherwise): (condition, then, otherwise) → status.
WHEN = {
    (M, M, M): M,
    (M, N, M): N,
    (M, U, M): U,
    (M, M, N): M,
    (M, N, N): N,
    (M, U, N): U,
    (N, M, M): M,
    (N, N, M): M,
    (N, U, M): M,
    (N, M, N): N,
    (N, N, N): N,
    (N, U, N): N,
    # Condition unknown: decided only when `then` agrees with `otherwise`.
    (U, M, M): M,
    (U, N, M): U,
    (U, U, M): U,
    (U, M, N): U,
    (U, N, N): N,
    (U, U, N): U,
}


@pytest.mark.parametrize(("condition", "then", "otherwise"), list(WHEN))
def test_when(condition: str, then: str, otherwise: str) -> None:
    rule = {
        "type": "when",
        "condition": leaf(0),
        "then": leaf(1),
        "otherwise": otherwise,
        "otherwise_text": "Not applicable",
    }
    result = evaluate(rule, condition, then)
    assert result.status == WHEN[(condition, then, otherwise)]
    if condition == N:
        assert result.reason.startswith("Not applicable (ANC ")
    if condition == M:
        assert result.reason.startswith("Hb")


def test_an_undecided_combination_gives_every_parts_reason() -> None:
    all_of = evaluate({"type": "all_of", "rules": [leaf(0), leaf(1)]}, M, U)
    assert all_of.status == U
    assert all_of.reason.startswith("ANC ")
    assert "; Hb: no result in the last 28 days" in all_of.reason
    rule = {
        "type": "when",
        "condition": leaf(0),
        "then": leaf(1),
        "otherwise": M,
        "otherwise_text": "Not applicable",
    }
    when = evaluate(rule, U, N)
    assert when.status == U
    assert when.reason.startswith("ANC: no result in the last 28 days; Hb ")
    assert len(when.evidence) == 1  # the Hb result; a missing ANC has none
