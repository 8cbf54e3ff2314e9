"""The Observation selection at every edge: exact and prefix code sets, each shape of code
and component, codings that cannot be read, and the system aliases it folds."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.facts import Code
from fhir_mappings.selection import ObservationSelection
from fhir_mappings.terminology import CodeSet

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
CREATININE: Code = (LOINC, "2160-0")
CHOLESTEROL: Code = (LOINC, "2093-3")
# An exact set and a prefix set: ICD-10 C78.7 (liver metastasis) and everything under it.
EXACT = CodeSet("creatinine", "creatinine", "test", frozenset({CREATININE}))
PREFIXED = CodeSet(
    "liver_metastasis", "liver metastasis", "test", frozenset(), code_prefixes=((ICD10, "C78.7"),)
)
SELECTION = ObservationSelection.of([EXACT, PREFIXED])


def obs(code: Any = None, components: Any = None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Observation", "id": "o"}
    if code is not None:
        resource["code"] = code
    if components is not None:
        resource["component"] = components
    return resource


def concept(*codes: Code) -> dict[str, Any]:
    return {"coding": [{"system": s, "code": c} for s, c in codes]}


def test_of_keeps_every_exact_code_and_only_the_sets_with_prefixes() -> None:
    assert SELECTION.codes == frozenset({CREATININE})
    assert SELECTION.prefixed == (PREFIXED,)
    assert ObservationSelection.of([EXACT]).prefixed == ()
    # A generator is read once, for both the codes and the prefixed sets.
    from_generator = ObservationSelection.of(cs for cs in (EXACT, PREFIXED))
    assert from_generator.codes == frozenset({CREATININE})
    assert from_generator.prefixed == (PREFIXED,)


@pytest.mark.parametrize(
    ("code", "read"),
    [
        (CREATININE, True),
        (CHOLESTEROL, False),
        ((ICD10, "C78.7"), True),  # the prefix itself
        ((ICD10, "C78.70"), True),  # below it
        ((ICD10, "c787"), True),  # folded to the classification's form first
        ((ICD10, "C78.6"), False),  # a sibling
        ((ICD10, "C78"), False),  # the parent
        (("http://example.org/icd", "C78.7"), False),  # same text, another system
    ],
)
def test_observation_code_is_read_by_exact_code_or_prefix(code: Code, read: bool) -> None:
    assert SELECTION.reads(obs(concept(code))) is read


def test_prefix_codes_are_not_read_without_the_prefix_sets() -> None:
    exact_only = ObservationSelection.of([EXACT])
    assert not exact_only.reads(obs(concept((ICD10, "C78.70"))))
    assert exact_only.reads(obs(concept(CREATININE)))


@pytest.mark.parametrize(
    "alias", ["urn:oid:2.16.840.1.113883.6.1", "https://loinc.org", "http://loinc.org/"]
)
def test_system_aliases_are_read_as_the_canonical_uri(alias: str) -> None:
    assert SELECTION.reads(obs(concept((alias, CREATININE[1]))))


def test_any_read_coding_of_several_is_enough() -> None:
    assert SELECTION.reads(obs(concept(CHOLESTEROL, CREATININE)))
    assert SELECTION.reads(obs(concept(CHOLESTEROL, (ICD10, "C78.71"))))
    assert not SELECTION.reads(obs(concept(CHOLESTEROL, (ICD10, "C77.0"))))


@pytest.mark.parametrize(
    "unusable",
    [
        {"code": "2160-0"},  # no system
        {"system": LOINC},  # no code
        {"system": LOINC, "code": 2160},  # code as a number
        {"system": None, "code": "2160-0"},
        {"system": ["http://loinc.org"], "code": "2160-0"},
    ],
)
def test_a_coding_without_string_system_and_code_is_passed_over(unusable: dict[str, Any]) -> None:
    # The parser ignores it too: alone it is not read, before a read coding it hides nothing.
    assert not SELECTION.reads(obs({"coding": [unusable]}))
    assert SELECTION.reads(obs({"coding": [unusable, {"system": LOINC, "code": "2160-0"}]}))
    assert not SELECTION.reads(obs({"coding": [unusable, {"system": LOINC, "code": "2093-3"}]}))


@pytest.mark.parametrize(
    "code",
    [
        {"text": "Creatinine"},  # text only
        {"coding": []},
        {"coding": None, "text": "Creatinine"},
        {},
    ],
)
def test_a_code_without_codings_is_not_read(code: dict[str, Any]) -> None:
    # Nothing could bucket it: no rule reads an Observation by its text.
    assert not SELECTION.reads(obs(code))
    assert not SELECTION.reads(obs(code, [{"code": code}]))
    assert not SELECTION.reads(obs(code, []))


@pytest.mark.parametrize(
    "code",
    [
        "2160-0",
        ["2160-0"],
        17,
        {"coding": "2160-0"},
        {"coding": {"system": LOINC, "code": "2093-3"}},
        {"coding": ["2093-3"]},
        {"coding": [None]},
        {"coding": [{"system": LOINC, "code": "2093-3"}, "x"]},
    ],
)
def test_a_code_of_an_odd_shape_goes_to_the_parser(code: Any) -> None:
    assert SELECTION.reads(obs(code))
    # ... also as a component's code of an unrelated Observation.
    assert SELECTION.reads(obs(concept(CHOLESTEROL), [{"code": code}]))


@pytest.mark.parametrize(
    ("components", "read"),
    [
        ([], False),
        ([{"code": concept(CHOLESTEROL)}], False),
        ([{"code": concept(CHOLESTEROL)}, {"code": concept(CREATININE)}], True),
        ([{"code": concept((ICD10, "C78.7"))}], True),
        ([{"valueQuantity": {"value": 1}}], False),  # a component without a code
        ([{"code": concept(CHOLESTEROL)}, "not an object"], True),
        ([None], True),
        ("not a list", True),
        ({"code": concept(CHOLESTEROL)}, True),
    ],
)
def test_components_of_an_unread_observation(components: Any, read: bool) -> None:
    assert SELECTION.reads(obs(concept(CHOLESTEROL), components)) is read
    # The same components under no code at all.
    assert SELECTION.reads(obs(None, components)) is read


def test_a_read_code_is_read_whatever_its_components() -> None:
    for components in ([], "not a list", [{"code": concept(CHOLESTEROL)}]):
        assert SELECTION.reads(obs(concept(CREATININE), components))


def test_an_empty_selection_reads_only_what_it_cannot_read_cheaply() -> None:
    nothing = ObservationSelection.of([])
    assert nothing.codes == frozenset()
    assert nothing.prefixed == ()
    assert not nothing.reads(obs(concept(CREATININE)))
    assert nothing.reads(obs("2160-0"))
