from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_mappings.facts import ATC, ICD10CM, LOINC
from fhir_mappings.terminology import DATA_DIR, TerminologyError, load_terminology


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
