"""The shared FHIR readers at every edge: code systems by every alias, ICD-10 forms,
quantities (units, comparators, unusable values), significant digits, numbers and ranges
written as text, reference ranges with ages, and references."""

from __future__ import annotations

from collections import OrderedDict
from types import MappingProxyType
from typing import Any

import pytest

from fhir_mappings._read import (
    BadValue,
    as_dict,
    as_list,
    canonical_code,
    canonical_system,
    codes_of,
    display_of,
    first_code,
    icd10_code,
    number_text,
    quantity,
    range_text,
    reference_id,
    reference_ranges,
    significant_digits,
)
from fhir_mappings.facts import UCUM, Quantity, ReferenceRange

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ATC = "http://www.whocc.no/atc"


# --------------------------------------------------------------------------- shapes
def test_as_dict_and_as_list() -> None:
    plain = {"a": 1}
    assert as_dict(plain) is plain
    proxy = MappingProxyType({"a": 1})
    assert as_dict(proxy) is proxy
    ordered = OrderedDict(a=1)
    assert as_dict(ordered) is ordered
    not_dicts: tuple[object, ...] = (None, [], "x", 1, ("a", 1))
    for odd in not_dicts:
        assert as_dict(odd) == {}
    items = [1, 2]
    assert as_list(items) is items

    class Items(list[int]):
        pass

    subclass = Items([1])
    assert as_list(subclass) is subclass
    not_lists: tuple[object, ...] = (None, {}, "ab", (1, 2), 3)
    for odd in not_lists:
        assert as_list(odd) == []


# --------------------------------------------------------------------------- code systems
@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("urn:oid:2.16.840.1.113883.6.1", LOINC),
        ("https://loinc.org", LOINC),
        ("http://loinc.org/", LOINC),
        ("urn:oid:2.16.840.1.113883.6.96", SNOMED),
        ("https://snomed.info/sct", SNOMED),
        ("http://snomed.info/sct/", SNOMED),
        ("urn:oid:2.16.840.1.113883.6.88", RXNORM),
        ("urn:oid:2.16.840.1.113883.6.90", ICD10CM),
        ("urn:oid:2.16.840.1.113883.6.3", ICD10),
        ("urn:oid:2.16.840.1.113883.6.73", ATC),
        ("urn:oid:2.16.840.1.113883.6.8", UCUM),
        ("urn:oid:2.16.840.1.113883.6.43.1", "http://terminology.hl7.org/CodeSystem/icd-o-3"),
        ("http://fhir.de/CodeSystem/bfarm/atc", ATC),
        ("http://fhir.de/CodeSystem/dimdi/atc", ATC),
        (LOINC, LOINC),
        ("http://example.org/local", "http://example.org/local"),
        ("URN:OID:2.16.840.1.113883.6.1", "URN:OID:2.16.840.1.113883.6.1"),
    ],
)
def test_canonical_system(alias: str, canonical: str) -> None:
    assert canonical_system(alias) == canonical
    assert canonical_code(alias, "X1") == (canonical, "X1")


@pytest.mark.parametrize(
    ("code", "normal"),
    [
        ("C78.7", "C78.7"),
        ("C787", "C78.7"),
        ("c787 ", "C78.7"),
        (" C18.0", "C18.0"),
        ("C18", "C18"),  # three characters: a category, no dot
        ("C180", "C18.0"),
        ("E1140", "E11.40"),
        ("E11.40+", "E11.40"),
        ("G63.2*", "G63.2"),
        ("U69.10!", "U69.10"),
        ("M14.2†", "M14.2"),
        ("E1140+", "E11.40"),
        ("C18.0*!", "C18.0"),
        ("S7200XA", "S72.00XA"),  # seven characters (ICD-10-CM)
        ("S7200XAB", "S7200XAB"),  # eight: not an ICD-10 code, kept as written
        ("1234", "1234"),
        ("CC12", "CC12"),
        ("C1A2", "C1A.2"),
        ("C78.", "C78."),
        ("", ""),
    ],
)
def test_icd10_code(code: str, normal: str) -> None:
    assert icd10_code(code) == normal


@pytest.mark.parametrize(
    "system",
    [
        ICD10,
        ICD10CM,
        "http://fhir.de/CodeSystem/bfarm/icd-10-gm",
        "http://fhir.de/CodeSystem/dimdi/icd-10-gm",
        "urn:oid:2.16.840.1.113883.6.90",
        "urn:oid:2.16.840.1.113883.6.3",
    ],
)
def test_icd10_systems_fold_their_codes(system: str) -> None:
    assert canonical_code(system, "c787")[1] == "C78.7"


@pytest.mark.parametrize("system", [LOINC, SNOMED, "http://example.org/icd-10", ATC])
def test_other_systems_keep_their_codes_as_written(system: str) -> None:
    # Case kept (some systems are case-sensitive); only the padding goes.
    assert canonical_code(system, "c787 ") == (system, "c787")


def test_codes_of() -> None:
    assert codes_of(None) == frozenset()
    concept = {
        "coding": [
            {"system": "https://loinc.org", "code": "2160-0"},
            {"system": ICD10, "code": "C787"},
            {"system": LOINC},
            {"code": "x"},
            {"system": LOINC, "code": 5},
            "not a coding",
            None,
        ]
    }
    assert codes_of(concept) == {(LOINC, "2160-0"), (ICD10, "C78.7")}
    # A list of concepts (category, bodySite...).
    assert codes_of([concept, {"coding": [{"system": SNOMED, "code": "1"}]}, "x", None]) == {
        (LOINC, "2160-0"),
        (ICD10, "C78.7"),
        (SNOMED, "1"),
    }
    assert codes_of({"coding": {"system": LOINC, "code": "1"}}) == frozenset()
    assert codes_of({"text": "Creatinine"}) == frozenset()
    assert codes_of("2160-0") == frozenset()
    # A coding held in another Mapping type is read too.
    assert codes_of({"coding": [MappingProxyType({"system": LOINC, "code": "1"})]}) == {
        (LOINC, "1")
    }


def test_display_of_prefers_text_then_the_first_display() -> None:
    assert display_of({"text": "T", "coding": [{"display": "D"}]}) == "T"
    assert display_of({"text": "", "coding": [{"display": "D"}]}) == "D"
    assert display_of({"text": 5, "coding": [{"display": ""}, {}, "x", {"display": "E"}]}) == "E"
    assert display_of({"coding": [{"display": 3}]}) is None
    assert display_of({"coding": "D"}) is None
    assert display_of(None) is None
    assert display_of("text") is None


def test_first_code() -> None:
    assert (
        first_code({"coding": [{"code": 1}, {"system": "s"}, "x", {"code": "A"}, {"code": "B"}]})
        == "A"
    )
    assert first_code({"coding": [{"code": ""}]}) == ""
    assert first_code({"coding": []}) is None
    assert first_code(None) is None


# --------------------------------------------------------------------------- quantities
def test_quantity_unit_is_the_ucum_code_when_there_is_one() -> None:
    assert quantity({"value": 1, "unit": "mg/dl", "code": "mg/dL", "system": UCUM}) == Quantity(
        1.0, "mg/dL"
    )
    # No system: UCUM is assumed for the code.
    assert quantity({"value": 1, "unit": "mg/dl", "code": "mg/dL"}) == Quantity(1.0, "mg/dL")
    # UCUM named by its OID.
    assert quantity(
        {"value": 1, "unit": "x", "code": "mg/dL", "system": "urn:oid:2.16.840.1.113883.6.8"}
    ) == Quantity(1.0, "mg/dL")


@pytest.mark.parametrize(
    "raw",
    [
        {"value": 1, "unit": "mg/dl", "code": "MGDL", "system": "http://example.org/units"},
        {"value": 1, "unit": "mg/dl", "code": "", "system": UCUM},
        {"value": 1, "unit": "mg/dl", "code": 5},
        {"value": 1, "unit": "mg/dl", "code": "mg/dL", "system": None},
        {"value": 1, "unit": "mg/dl", "code": "mg/dL", "system": 7},
    ],
)
def test_quantity_unit_falls_back_to_the_unit_text(raw: dict[str, Any]) -> None:
    assert quantity(raw) == Quantity(1.0, "mg/dl")


def test_quantity_without_a_unit() -> None:
    assert quantity({"value": 2}) == Quantity(2.0, None)
    assert quantity({"value": 2, "unit": 5}) == Quantity(2.0, None)
    assert quantity({"value": 2, "code": "x", "system": "http://example.org"}) == Quantity(
        2.0, None
    )


@pytest.mark.parametrize("comparator", ["<", "<=", ">=", ">"])
def test_quantity_comparators(comparator: str) -> None:
    found = quantity({"value": 5, "comparator": comparator})
    assert found == Quantity(5.0, None, comparator)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"value": 5, "comparator": "="}, "quantity comparator '=' is not valid"),
        ({"value": 5, "comparator": "ad"}, "quantity comparator 'ad' is not valid"),
        ({"value": 5, "comparator": "≤"}, "quantity comparator '≤' is not valid"),
        ({"value": "five"}, "quantity value 'five' is not a number"),
        ({"value": True}, "quantity value True is not a number"),
        ({"value": None}, "quantity value None is not a number"),
        ({}, "quantity value None is not a number"),
        ("5 mg", "quantity value None is not a number"),
    ],
)
def test_unusable_quantities_raise(raw: Any, message: str) -> None:
    with pytest.raises(BadValue) as caught:
        quantity(raw)
    assert str(caught.value) == message


def test_quantity_absent_and_its_precision() -> None:
    assert quantity(None) is None
    found = quantity({"value": 0.030})
    assert found is not None
    assert found.value == 0.03
    assert found.precision == 1  # the JSON number lost its trailing zero
    q = quantity({"value": 150})
    assert q is not None
    assert q.precision == 3
    assert type(q.value) is float


@pytest.mark.parametrize(
    ("value", "digits"),
    [
        ("6.2", 2),
        ("0.030", 2),
        ("6.20", 3),
        (150, 3),
        (1, 1),
        (1.0, 2),
        ("1.0", 2),
        (0, 1),
        ("0", 1),
        (0.0, 1),
        ("0.00", 1),
        (1e-05, 1),
        ("1200", 4),
        (float("nan"), None),
        (float("inf"), None),
        ("abc", None),
        ("", None),
    ],
)
def test_significant_digits(value: int | float | str, digits: int | None) -> None:
    assert significant_digits(value) == digits


# --------------------------------------------------------------------------- text numbers
@pytest.mark.parametrize(
    ("text", "expected", "digits"),
    [
        ("1.1", Quantity(1.1, None), 2),
        ("<0.3", Quantity(0.3, None, "<"), 1),
        ("<=0.3", Quantity(0.3, None, "<="), 1),
        (">= 2", Quantity(2.0, None, ">="), 1),
        ("> 1000", Quantity(1000.0, None, ">"), 4),
        ("≤ 5 mg/dL", Quantity(5.0, "mg/dL", "<="), 1),
        ("≥5", Quantity(5.0, None, ">="), 1),
        ("=<5", Quantity(5.0, None, "<="), 1),
        ("=>5", Quantity(5.0, None, ">="), 1),
        ("-2.5", Quantity(-2.5, None), 2),
        ("+3", Quantity(3.0, None), 1),
        (".5", Quantity(0.5, None), 1),
        ("5.", Quantity(5.0, None), 1),
        ("1e3", Quantity(1000.0, None), 1),
        ("1.5E-2 g/L", Quantity(0.015, "g/L"), 2),
        ("12 umol/L", Quantity(12.0, "umol/L"), 2),
        ("7 %", Quantity(7.0, "%"), 1),
        ("3 10*9/L", Quantity(3.0, "10*9/L"), 1),
        ("40 U/L ", Quantity(40.0, "U/L"), 2),
        ("2 {score}", Quantity(2.0, "{score}"), 1),
        ("5 µmol/L", Quantity(5.0, "µmol/L"), 1),
        ("1 mm[Hg]", Quantity(1.0, "mm[Hg]"), 1),
    ],
)
def test_number_text(text: str, expected: Quantity, digits: int) -> None:
    found = number_text(text)
    assert found == expected
    assert found is not None
    assert found.precision == digits


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Negative",
        "1,200",
        "1.1.1",
        "nan",
        "inf",
        "1e999",
        "< >",
        "5 mg/",
        "5 /",
        "2+",
        "~5",
        "5 5",
    ],
)
def test_text_that_is_not_one_number(text: str) -> None:
    assert number_text(text) is None


@pytest.mark.parametrize(
    ("text", "low", "high", "unit"),
    [
        ("3-17 umol/L", 3.0, 17.0, "umol/L"),
        ("3 - 17", 3.0, 17.0, None),
        ("3.5–5.2 g/dL", 3.5, 5.2, "g/dL"),
        ("3—5", 3.0, 5.0, None),
        ("3 to 17 U/L", 3.0, 17.0, "U/L"),
        ("5-5", 5.0, 5.0, None),
        (" 0.6-1.2 mg/dL ", 0.6, 1.2, "mg/dL"),
    ],
)
def test_range_text_low_high(text: str, low: float, high: float, unit: str | None) -> None:
    found = range_text(text)
    assert found == (Quantity(low, unit), Quantity(high, unit))


def test_range_text_keeps_the_digits_of_each_bound() -> None:
    found = range_text("0.60-12.0 mg/dL")
    assert found is not None
    low, high = found
    assert low is not None
    assert high is not None
    assert (low.precision, high.precision) == (2, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<1.2 mg/dL", (None, Quantity(1.2, "mg/dL"))),
        ("<= 40 U/L", (None, Quantity(40.0, "U/L"))),
        ("≤ 40 U/L", (None, Quantity(40.0, "U/L"))),
        ("> 3.5 g/dL", (Quantity(3.5, "g/dL"), None)),
        (">=3.5", (Quantity(3.5, None), None)),
        (">=35", (Quantity(35.0, None), None)),
    ],
)
def test_range_text_one_bound(text: str, expected: tuple[Quantity | None, Quantity | None]) -> None:
    found = range_text(text)
    assert found == expected
    assert found is not None
    bound = found[0] or found[1]
    assert bound is not None
    assert bound.comparator is None  # the limit itself, as labs mean it
    assert bound.precision == 2  # as written: "1.2", "40", "3.5"


@pytest.mark.parametrize("text", ["17-3", "1.2", "normal", "", "3 - ", "3-17-20", "-3-17"])
def test_range_text_unreadable(text: str) -> None:
    assert range_text(text) is None


# --------------------------------------------------------------------------- reference ranges
def test_reference_range_low_high_and_codes() -> None:
    (r,) = reference_ranges(
        [
            {
                "low": {"value": 0.6, "unit": "mg/dL"},
                "high": {"value": 1.2, "unit": "mg/dL"},
                "text": "0.6-1.2",
                "appliesTo": [{"coding": [{"system": SNOMED, "code": "248153007"}]}],
            }
        ]
    )
    assert r == ReferenceRange(
        low=Quantity(0.6, "mg/dL"),
        high=Quantity(1.2, "mg/dL"),
        text="0.6-1.2",
        applies_to=frozenset({(SNOMED, "248153007")}),
    )


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {"text": "3-17 U/L"},
            ReferenceRange(Quantity(3.0, "U/L"), Quantity(17.0, "U/L"), "3-17 U/L"),
        ),
        ({"text": "<40"}, ReferenceRange(None, Quantity(40.0, None), "<40")),
        (
            {"text": "normal"},
            ReferenceRange(text="normal", problem="reference range text 'normal' cannot be read"),
        ),
        ({"text": "  "}, ReferenceRange(problem="reference range has neither low, high nor text")),
        ({"text": 5}, ReferenceRange(problem="reference range has neither low, high nor text")),
        ({}, ReferenceRange(problem="reference range has neither low, high nor text")),
        (
            {"high": {"value": "1,2"}, "text": "0.6-1.2"},
            ReferenceRange(
                text="0.6-1.2", problem="reference range: quantity value '1,2' is not a number"
            ),
        ),
        (
            {"low": {"value": 1, "comparator": "~"}},
            ReferenceRange(problem="reference range: quantity comparator '~' is not valid"),
        ),
        (
            {"high": {"value": 40}, "text": "normal"},
            ReferenceRange(high=Quantity(40.0, None), text="normal"),
        ),
        ({"low": {"value": 3}}, ReferenceRange(low=Quantity(3.0, None))),
    ],
)
def test_reference_range_from_text_or_with_a_problem(
    item: dict[str, Any], expected: ReferenceRange
) -> None:
    assert reference_ranges([item]) == (expected,)


@pytest.mark.parametrize(
    ("age", "low", "high"),
    [
        ({"low": {"value": 18, "unit": "a"}, "high": {"value": 65, "unit": "a"}}, 18.0, 65.0),
        ({"low": {"value": 18, "code": "a", "system": UCUM}}, 18.0, None),
        ({"high": {"value": 18, "unit": "yr"}}, None, 18.0),
        ({"low": {"value": 18, "unit": "year"}}, 18.0, None),
        ({"low": {"value": 18, "unit": " Years "}}, 18.0, None),
        ({"low": {"value": 18}}, 18.0, None),  # no unit: years
        ({"low": {"value": 6, "unit": "mo"}}, 0.5, None),
        ({"low": {"value": 52.1775, "unit": "wk"}}, 1.0, None),
        ({"low": {"value": 365.25, "unit": "d"}}, 1.0, None),
        ({}, None, None),
        ({"low": None}, None, None),
    ],
)
def test_reference_range_ages_in_years(
    age: dict[str, Any], low: float | None, high: float | None
) -> None:
    (r,) = reference_ranges([{"high": {"value": 1}, "age": age}])
    assert (r.age_low, r.age_high, r.problem) == (low, high, None)


@pytest.mark.parametrize(
    ("age", "problem"),
    [
        ({"low": {"value": 18, "unit": "h"}}, "age unit 'h' not understood"),
        ({"high": {"value": 18, "unit": "kg"}}, "age unit 'kg' not understood"),
        ({"low": {"value": "18 y"}}, "quantity value '18 y' is not a number"),
        ({"high": {"value": 18, "comparator": "=="}}, "quantity comparator '==' is not valid"),
        (
            {"low": {"value": 18, "unit": "h"}, "high": {"value": 1, "unit": "kg"}},
            "age unit 'h' not understood",
        ),
    ],
)
def test_reference_range_ages_that_cannot_be_read(age: dict[str, Any], problem: str) -> None:
    (r,) = reference_ranges([{"high": {"value": 1}, "age": age}])
    assert r.problem == problem
    assert r.high == Quantity(1.0, None)


def test_a_range_problem_comes_before_an_age_problem() -> None:
    (r,) = reference_ranges([{"text": "normal", "age": {"low": {"value": 1, "unit": "h"}}}])
    assert r.problem == "reference range text 'normal' cannot be read"
    (r,) = reference_ranges(
        [
            {
                "high": {"value": 1},
                "age": {"low": {"value": 1, "unit": "h"}, "high": {"value": 2, "unit": "a"}},
            }
        ]
    )
    assert (r.age_low, r.age_high, r.problem) == (None, 2.0, "age unit 'h' not understood")


def test_reference_ranges_of_odd_shapes() -> None:
    assert reference_ranges(None) == ()
    assert reference_ranges({"high": {"value": 1}}) == ()
    assert reference_ranges(["x"]) == (
        ReferenceRange(problem="reference range has neither low, high nor text"),
    )
    assert len(reference_ranges([{"high": {"value": 1}}, {"low": {"value": 2}}])) == 2


# --------------------------------------------------------------------------- references
@pytest.mark.parametrize(
    ("raw", "ref"),
    [
        ({"reference": "Patient/p1"}, "Patient/p1"),
        ({"reference": "Patient/p1/"}, "Patient/p1"),
        ({"reference": "https://x.example/fhir/Medication/m1"}, "Medication/m1"),
        ({"reference": "Medication/m1/_history/2"}, "Medication/m1"),
        ({"reference": "https://x.example/Medication/m1/_history/2/"}, "Medication/m1"),
        ({"reference": "urn:uuid:abc/def"}, "urn:uuid:abc/def"),
        ({"reference": "#med1"}, "#med1"),
        ({"reference": "urn:x-local:ehr/Medication/m1"}, "urn:x-local:ehr/Medication/m1"),
        ({"reference": "Medication/MX"}, "Medication/MX"),
        ({"reference": "https://x.example/Medication/MX/"}, "Medication/MX"),
        ({"reference": "m1/"}, "m1/"),  # not Type/id: left as written
        ({"reference": "_history/2"}, "_history/2"),
        ({"reference": "m1"}, "m1"),
        ({"reference": ""}, None),
        ({"reference": 5}, None),
        ({}, None),
        (None, None),
        ("Patient/p1", None),
    ],
)
def test_reference_id(raw: Any, ref: str | None) -> None:
    assert reference_id(raw) == ref


# --------------------------------------------------------------------------- range types
MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"


def _typed(kind: dict[str, Any] | None, high: float) -> dict[str, Any]:
    item: dict[str, Any] = {"high": {"value": high, "unit": "s"}}
    if kind is not None:
        item["type"] = kind
    return item


def test_only_the_normal_range_is_a_reference_range() -> None:
    therapeutic = _typed({"coding": [{"system": MEANING, "code": "therapeutic"}]}, 100)
    normal = _typed({"coding": [{"system": MEANING, "code": "normal"}]}, 38)
    # A heparin therapeutic range listed first must not become the ULN.
    (kept,) = reference_ranges([therapeutic, normal])
    assert kept.high is not None
    assert kept.high.value == 38
    (untyped,) = reference_ranges([_typed({"text": "Critical"}, 500), _typed(None, 38)])
    assert untyped.high is not None
    assert untyped.high.value == 38
    (by_text,) = reference_ranges([_typed({"text": "Normal range"}, 40)])
    assert by_text.high is not None
    assert by_text.high.value == 40
    assert by_text.problem is None


def test_a_range_of_another_type_alone_leaves_the_uln_unknown() -> None:
    (only,) = reference_ranges(
        [_typed({"coding": [{"system": MEANING, "code": "therapeutic"}]}, 100)]
    )
    assert only.high is None
    assert only.problem == "only a therapeutic range was given, not the normal range"


def _for(applies_to: list[dict[str, Any]], high: float) -> dict[str, Any]:
    return {"high": {"value": high, "unit": "U/L"}, "appliesTo": applies_to}


@pytest.mark.parametrize(
    ("male", "female"),
    [
        (  # HL7 v2 table 0001, as v2-to-FHIR conversions send it
            [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0001", "code": "M"}
                    ]
                }
            ],
            [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0001", "code": "F"}
                    ]
                }
            ],
        ),
        ([{"text": "Male"}], [{"text": "Female"}]),
        ([{"text": "Männer"}], [{"text": "Frauen"}]),
    ],
)
def test_sex_of_a_range_is_read_from_v2_codes_and_text(
    male: list[dict[str, Any]], female: list[dict[str, Any]]
) -> None:
    men, women = reference_ranges([_for(male, 45), _for(female, 33)])
    assert ("http://hl7.org/fhir/administrative-gender", "male") in men.applies_to
    assert ("http://hl7.org/fhir/administrative-gender", "female") in women.applies_to


def test_an_unreadable_applies_to_never_looks_like_a_range_for_everyone() -> None:
    (pregnant,) = reference_ranges([_for([{"text": "Schwangere, 2. Trimenon"}], 60)])
    assert pregnant.applies_to  # not empty: not a range for everyone
