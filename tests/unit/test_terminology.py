from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_mappings.facts import ATC, ICD10, ICD10CM, LOINC, RXNORM, SNOMED
from fhir_mappings.terminology import DATA_DIR, CodeSet, TerminologyError, load_terminology
from fhir_mappings.units import convert, normalize_unit


def test_lab_code_sets_hold_every_common_loinc() -> None:
    t = load_terminology()
    assert {(LOINC, c) for c in ("751-8", "26499-4", "753-4")} <= t.code_set("anc").codes
    assert {(LOINC, c) for c in ("718-7", "20509-6", "59260-0")} <= t.code_set("hemoglobin").codes
    # 3175-7 is not an aPTT code: it must never be matched as one.
    assert (LOINC, "3175-7") not in t.code_set("aptt").codes


def test_prefix_matching_for_hierarchical_systems() -> None:
    t = load_terminology()
    assert t.code_set("anticoagulants").matches([(ATC, "B01AC06")])
    assert not t.code_set("anticoagulants").matches([(ATC, "N02BA01")])
    metastasis = t.code_set("secondary_malignancy_dx")
    assert metastasis.matches([(ICD10CM, "C78.7")])
    # Longest prefix decides the organ site: C78.7 is liver, not "unspecified" C78.
    assert metastasis.group_of((ICD10CM, "C78.7")) == "liver"
    assert metastasis.group_of((ICD10CM, "C79.51")) == "bone"


def test_answers_map_codes_to_numbers() -> None:
    ecog = load_terminology().code_set("ecog")
    assert ecog.answers[(LOINC, "LA9623-5")] == 1
    assert ecog.answers[(LOINC, "LA9627-6")] == 5


def test_default_limits_are_sex_specific_and_say_where_they_come_from() -> None:
    t = load_terminology()
    female = t.default_limit("creatinine", "high", "female")
    male = t.default_limit("creatinine", "high", "male")
    assert female is not None
    assert male is not None
    assert (female[0].value, male[0].value) == (1.04, 1.35)
    assert "default ULN" in female[1]
    # No sex-neutral creatinine default: unknown sex must not silently pick one.
    assert t.default_limit("creatinine", "high", None) is None
    assert t.default_limit("aptt", "high", None) is not None


def test_every_code_carries_source_and_verification() -> None:
    for path in DATA_DIR.glob("*.json"):
        data = json.loads(path.read_text())
        for name, code_set in data.get("code_sets", {}).items():
            assert code_set["source"], name
            for code in code_set["codes"]:
                assert code["verification"] in {"verified", "weak", "unverified"}, (name, code)


def test_broken_data_file_fails_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "labs.json").write_text(
        json.dumps({"code_sets": {"anc": {"description": "x", "source": "y", "codes": [{}]}}})
    )
    with pytest.raises(TerminologyError, match=r"labs\.json: /code_sets/anc/codes/0"):
        load_terminology(tmp_path)


# Names the trial definitions and fixtures rely on (docs: shared conventions).
CONVENTION_CODE_SETS = (
    "rectal_adenocarcinoma_dx",
    "rectal_cancer_dx",
    "adenocarcinoma_histology",
    "secondary_malignancy_dx",
    "metastasis_body_site",
    "m_stage",
    "m0_values",
    "m1_values",
    "distance_from_anal_verge",
    "metastatic_lesion_count",
    "metastatic_site_count",
    "recist_measurable",
    "tumor_size",
    "msi",
    "msi_stable_values",
    "msi_high_values",
    "mmr_mlh1",
    "mmr_msh2",
    "mmr_msh6",
    "mmr_pms2",
    "mmr_intact_values",
    "mmr_loss_values",
    "ecog",
    "anc",
    "wbc",
    "neutrophils_percent",
    "platelets",
    "hemoglobin",
    "total_bilirubin",
    "alt",
    "ast",
    "albumin",
    "creatinine",
    "creatinine_clearance",
    "body_weight",
    "urine_protein_dipstick",
    "urine_protein_24h",
    "inr",
    "aptt",
    "anticoagulants",
    "pregnancy_test",
    "hcg_quantitative",
    "pregnancy_status",
    "postmenopausal_dx",
    "treatment_capecitabine",
    "treatment_oxaliplatin",
    "treatment_radiotherapy",
    "consent_signed",
    "life_expectancy_attested",
    "contraception_agreement",
)

LOCAL = "http://trial-cds-hooks.org/fhir/CodeSystem/screening"


def test_every_convention_code_set_exists() -> None:
    missing = [n for n in CONVENTION_CODE_SETS if n not in load_terminology().code_sets]
    assert missing == []


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("distance_from_anal_verge", "distance-from-anal-verge"),
        ("metastatic_lesion_count", "metastatic-lesion-count"),
        ("metastatic_site_count", "metastatic-site-count"),
        ("recist_measurable", "recist-measurable-disease"),
        ("consent_signed", "informed-consent-signed"),
        ("life_expectancy_attested", "life-expectancy-over-5-years"),
        ("contraception_agreement", "contraception-agreement"),
    ],
)
def test_local_codes(name: str, code: str) -> None:
    assert load_terminology().code_set(name).matches([(LOINC, code), (LOCAL, code)])


def test_lab_sets_carry_units_molar_masses_and_order_codes() -> None:
    t = load_terminology()
    expected = {
        # name: (canonical unit, molar mass, order code)
        "anc": ("10*9/L", None, "751-8"),
        "platelets": ("10*9/L", None, "777-3"),
        "hemoglobin": ("g/dL", 16114.5, "718-7"),
        "total_bilirubin": ("mg/dL", 584.66, "1975-2"),
        "creatinine": ("mg/dL", 113.12, "2160-0"),
        "albumin": ("g/L", 66500.0, "1751-7"),
        "inr": ("{INR}", None, "6301-6"),
        "aptt": ("s", None, "14979-9"),
        "ecog": ("{score}", None, "89247-1"),
        "msi": (None, None, "81695-9"),
        "pregnancy_test": (None, None, "2106-3"),
    }
    for name, (unit, molar_mass, order) in expected.items():
        cs = t.code_set(name)
        assert cs.canonical_unit == unit, name
        assert cs.molar_mass == molar_mass, name
        assert cs.order_code == (LOINC, order), name
        assert cs.order_display, name
    assert t.code_set("alt").unit_equivalents == {"[IU]/L": "U/L"}
    # IU and U are only the same for enzyme activities, not in general.
    assert t.code_set("hcg_quantitative").unit_equivalents == {}


def test_answer_sets_decide_only_what_they_say() -> None:
    t = load_terminology()
    # The trial asks for MSS: MSI-L must not pass as stable, nor as high.
    msi_low = (LOINC, "LA26202-4")
    assert not t.code_set("msi_stable_values").matches([msi_low])
    assert not t.code_set("msi_high_values").matches([msi_low])
    assert t.code_set("msi_high_values").matches([(LOINC, "LA26203-2")])
    assert t.code_set("mmr_loss_values").matches([(LOINC, "LA26198-4")])
    assert not t.code_set("mmr_intact_values").matches([(LOINC, "LA26198-4")])
    # 1:1 mixing studies are not the patient's aPTT.
    assert not t.code_set("aptt").matches([(LOINC, "16631-4"), (LOINC, "43734-3")])
    # Perimenopausal women can conceive.
    assert not t.code_set("postmenopausal_dx").matches([(SNOMED, "307409000")])
    ecog = t.code_set("ecog")
    assert ecog.answer_value([(LOINC, "x"), (SNOMED, "422512005")]) == 1
    assert ecog.answer_value([(LOINC, "LA9624-3")]) == 2
    assert ecog.answer_value([(LOINC, "89247-1")]) is None


def test_prefixes_match_only_whole_prefixes_of_their_own_system() -> None:
    t = load_terminology()
    anticoagulants = t.code_set("anticoagulants")
    assert anticoagulants.matches([(ATC, "B01AF02")])
    assert not anticoagulants.matches([(ATC, "B01")])  # shorter than the B01A prefix
    assert not anticoagulants.matches([(ICD10CM, "B01AC06")])  # right text, wrong system
    assert anticoagulants.matches([(RXNORM, "855332")])  # warfarin 5 mg tablet (SCD)
    metastasis = t.code_set("secondary_malignancy_dx")
    assert not metastasis.matches([(ICD10CM, "C20"), (ICD10CM, "C80.1")])
    # Same C-code under WHO ICD-10.
    assert metastasis.group_of((ICD10, "C78.7")) == "liver"
    assert metastasis.group_of((ICD10CM, "C78.01")) == "lung"
    assert metastasis.group_of((ICD10CM, "C78.2")) == "pleura"
    assert metastasis.group_of((ICD10CM, "C77.0")) == "lymph_node"
    # Intrapelvic nodes can be regional for a rectal primary: not a distant organ site.
    assert metastasis.group_of((ICD10CM, "C77.5")) == "unspecified"
    assert metastasis.group_of((SNOMED, "94381002")) == "liver"
    assert metastasis.group_of((ICD10CM, "C20")) is None
    assert t.code_set("metastasis_body_site").group_of((SNOMED, "10200004")) == "liver"


def test_prefix_grouping_prefers_the_longest_grouped_prefix() -> None:
    cs = CodeSet(
        name="x",
        description="d",
        source="s",
        codes=frozenset(),
        code_prefixes=(("sys", "C7"), ("sys", "C78"), ("sys", "C78.7"), ("sys", "C78.79")),
        prefix_groups=(("sys", "C7", "broad"), ("sys", "C78.7", "liver")),
    )
    assert cs.group_of(("sys", "C78.799")) == "liver"  # C78.79 has no group: next one down
    assert cs.group_of(("sys", "C78.0")) == "broad"
    assert cs.group_of(("sys", "C7")) == "broad"
    assert cs.group_of(("other", "C78.7")) is None
    assert not cs.matches([("sys", "C"), ("sys", "D78.7")])


def test_default_limits() -> None:
    t = load_terminology()
    limits = [t.default_limit("alt", "high", sex) for sex in ("female", "male", None)]
    assert [(q.value, q.unit) for q, _ in filter(None, limits)] == [
        (33, "U/L"),
        (41, "U/L"),
        (40, "U/L"),
    ]
    # A sex without its own value falls back to the sex-neutral one, where there is one.
    other = t.default_limit("aptt", "high", "other")
    assert other is not None
    assert (other[0].value, other[0].unit) == (35, "s")
    hb = t.default_limit("hemoglobin", "low", "female")
    assert hb is not None
    assert hb[0].value == 12.0
    assert t.default_limit("hemoglobin", "low", None) is None
    assert t.default_limit("hemoglobin", "high", "female") is None
    assert t.default_limit("no_such_analyte", "high", None) is None


def test_units_in_the_data_are_ucum_and_limits_convert_to_their_analyte() -> None:
    t = load_terminology()
    for name, cs in t.code_sets.items():
        for unit in [cs.canonical_unit, *cs.unit_equivalents, *cs.unit_equivalents.values()]:
            if unit is not None:
                assert normalize_unit(unit) == unit, (name, unit)
    for target in set(t.unit_aliases.values()):
        assert normalize_unit(target) == target, target
    for analyte in ("anc", "platelets", "hemoglobin", "total_bilirubin", "alt", "ast"):
        cs = t.code_set(analyte)
        for bound in ("high", "low"):
            for sex in ("male", "female", None):
                found = t.default_limit(analyte, bound, sex)
                if found is not None and found[0].unit is not None and cs.canonical_unit:
                    convert(1.0, found[0].unit, cs.canonical_unit, molar_mass=cs.molar_mass)


def _write(directory: Path, name: str, data: object) -> Path:
    path = directory / name
    path.write_text(json.dumps(data))
    return path


GOOD_SET = {
    "code_sets": {
        "anc": {
            "description": "ANC",
            "source": "test",
            "codes": [
                {
                    "system": LOINC,
                    "code": "751-8",
                    "display": "ANC",
                    "verification": "verified",
                    "source": "test",
                }
            ],
        }
    }
}


def test_a_custom_directory_loads_without_limits_or_aliases(tmp_path: Path) -> None:
    _write(tmp_path, "labs.json", GOOD_SET)
    t = load_terminology(tmp_path)
    assert t.code_set("anc").matches([(LOINC, "751-8")])
    assert t.default_limit("anc", "low", None) is None
    with pytest.raises(KeyError, match="platelets"):
        t.code_set("platelets")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {
                "reference_limits.json": {
                    "limits": {
                        "anc": {
                            "low": {"anyone": 1.5},
                            "unit": "10*9/L",
                            "source": "x",
                            "verification": "weak",
                        }
                    }
                }
            },
            r"reference_limits\.json: /limits/anc/low: .*anyone",
        ),
        (
            {
                "reference_limits.json": {
                    "limits": {
                        "anx": {
                            "low": {"any": 1.5},
                            "unit": "10*9/L",
                            "source": "x",
                            "verification": "weak",
                        }
                    }
                }
            },
            r"reference_limits\.json: /limits/anx: no code set",
        ),
        (
            {"unit_aliases.json": {"aliases": {"K/uL": ""}}},
            r"unit_aliases\.json: /aliases/K/uL: ",
        ),
        ({"more.json": GOOD_SET}, r"more\.json: /code_sets/anc: defined twice"),
        (
            {
                "more.json": {
                    "code_sets": {
                        "histology": {
                            "description": "d",
                            "source": "s",
                            "codes": [
                                {
                                    "system": "urn:oid:2.16.840.1.113883.6.43.1",
                                    "code": "8140/3",
                                    "display": "Adenocarcinoma",
                                    "verification": "verified",
                                    "source": "test",
                                }
                            ],
                        }
                    }
                }
            },
            r"more\.json: /code_sets/histology/codes/0: write system "
            r"'urn:oid:2\.16\.840\.1\.113883\.6\.43\.1' as "
            r"'http://terminology\.hl7\.org/CodeSystem/icd-o-3'",
        ),
        ({"more.json": "not an object"}, r"more\.json: /: "),
    ],
)
def test_bad_files_fail_with_path_and_pointer(
    tmp_path: Path, files: dict[str, object], message: str
) -> None:
    _write(tmp_path, "labs.json", GOOD_SET)
    for name, data in files.items():
        _write(tmp_path, name, data)
    with pytest.raises(TerminologyError, match=message):
        load_terminology(tmp_path)


def test_unreadable_json_fails_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "labs.json").write_text("{not json")
    with pytest.raises(TerminologyError, match=r"labs\.json: cannot read"):
        load_terminology(tmp_path)


def test_an_answer_with_two_values_fails(tmp_path: Path) -> None:
    answer = {"system": LOINC, "code": "LA1", "display": "a", "verification": "weak", "source": "t"}
    data = json.loads(json.dumps(GOOD_SET))
    data["code_sets"]["anc"]["answers"] = [{**answer, "value": 1}, {**answer, "value": 2}]
    _write(tmp_path, "labs.json", data)
    with pytest.raises(TerminologyError, match=r"/code_sets/anc/answers/1: .*another value"):
        load_terminology(tmp_path)


def test_packaged_terminology_is_loaded_once() -> None:
    assert load_terminology() is load_terminology()
