"""Codes as feeds send them. ICD-10 codes (no dot, lower case, padded, with ICD-10-GM
multiple coding markers) are read as the classification writes them; other codes lose only
their padding; systems given by their HL7 v2 names are read as their URIs."""

from __future__ import annotations

import pytest

from fhir_mappings._read import canonical_code, codes_of, icd10_code
from fhir_mappings.conditions import parse_condition
from fhir_mappings.terminology import load_terminology

TERMS = load_terminology()
CM = "http://hl7.org/fhir/sid/icd-10-cm"
GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("C78.7", "C78.7"),
        ("C787", "C78.7"),
        ("c78.7", "C78.7"),
        (" C78.7 ", "C78.7"),
        ("Z85048", "Z85.048"),
        ("S72001A", "S72.001A"),
        ("E11.40+", "E11.40"),
        ("G63.2*", "G63.2"),
        ("U69.10!", "U69.10"),
        ("C20", "C20"),
        ("C7", "C7"),  # not a code: upper-cased only, matches nothing
    ],
)
def test_icd10_code_forms(sent: str, read: str) -> None:
    assert icd10_code(sent) == read


def test_only_icd10_systems_are_rewritten() -> None:
    assert canonical_code(CM, "c787") == (CM, "C78.7")
    assert canonical_code("urn:oid:2.16.840.1.113883.6.90", "C787") == (CM, "C78.7")
    # Other systems' codes keep their case (some are case-sensitive); only padding goes.
    assert canonical_code("http://snomed.info/sct", " 94381002 ") == (
        "http://snomed.info/sct",
        "94381002",
    )
    assert canonical_code(" http://loinc.org", "751-8\t") == ("http://loinc.org", "751-8")
    assert canonical_code("http://example.org/local", "c787") == (
        "http://example.org/local",
        "c787",
    )


@pytest.mark.parametrize(("system", "code"), [(CM, "C787"), (GM, "c78.7"), (GM, "C78.7*")])
def test_a_dotless_or_marked_metastasis_code_gets_its_site(system: str, code: str) -> None:
    fact = parse_condition(
        {
            "resourceType": "Condition",
            "id": "m",
            "code": {"coding": [{"system": system, "code": code}]},
        }
    )
    secondary = TERMS.code_set("secondary_malignancy_dx")
    (read,) = fact.codes
    assert secondary.matches(fact.codes)
    assert secondary.group_of(read) == "liver"


def test_the_trials_own_diagnosis_matches_in_any_of_these_forms() -> None:
    rectal = TERMS.code_set("rectal_cancer_dx")
    for code in ("C20", "c20", " C20", "C20+"):
        assert rectal.matches(codes_of({"coding": [{"system": GM, "code": code}]})), code


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("LN", "http://loinc.org"),
        ("SCT", "http://snomed.info/sct"),
        ("RXNORM", "http://www.nlm.nih.gov/research/umls/rxnorm"),
        ("UCUM", "http://unitsofmeasure.org"),
        ("ln", "ln"),  # table 0396 names are upper case: anything else is left as sent
    ],
)
def test_hl7_v2_system_names_are_read_as_their_uris(sent: str, read: str) -> None:
    assert canonical_code(sent, "x") == (read, "x")


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("http://snomed.info/sct/900000000000207008", "http://snomed.info/sct"),
        ("http://snomed.info/sct/731000124108/version/20250301", "http://snomed.info/sct"),
        ("https://snomed.info/sct/11000274103/", "http://snomed.info/sct"),
        ("http://snomed.info/sct/not-an-edition", "http://snomed.info/sct/not-an-edition"),
    ],
)
def test_snomed_editions_given_in_the_system_are_snomed(sent: str, read: str) -> None:
    assert canonical_code(sent, "94381002") == (read, "94381002")
