"""German oncology data (Medizininformatik-Initiative, Modul Onkologie): TNM categories coded
in UICC TNM, and post-therapy staging marked by a modifier extension. A resource with any
modifier extension is never read as if the modifier were absent (FHIR's rule for modifiers
a reader does not understand): it is named, and decides nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cds_hooks.eligibility.results import CriterionResult
from fhir_mappings._read import modifier_extensions
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from tests.unit.screen_edits import AS_OF, ENGINE, PATIENTS

UICC = "https://www.uicc.org/resources/tnm"
SNOMED = "http://snomed.info/sct"
MII = "https://www.medizininformatik-initiative.de/fhir/ext/modul-onko/StructureDefinition/"
Y_PREFIX = {
    "url": MII + "mii-ex-onko-tnm-y-praefix",
    "valueCodeableConcept": {"coding": [{"system": UICC, "code": "y"}]},
}
TORCH = "torch-e2"
CANDIDATE = "torch_e2_candidate"
# The candidate's cT, cN and cM Observations.
T_OBS, N_OBS, M_OBS = "torch-candidate-obs2", "torch-candidate-obs3", "torch-candidate-obs4"


def screen(fixture: str, trial: str, criterion: str, edits: dict[str, Any]) -> CriterionResult:
    bundle = json.loads((PATIENTS / fixture / "bundle.json").read_text())
    resources = resources_from_bundle(bundle)
    for resource in resources:
        if resource.get("id") in edits:
            edits[resource["id"]](resource)
    record = build_record(copy.deepcopy(resources), observations_read=ENGINE.observations_read)
    return ENGINE.screen(record, AS_OF, [trial]).trials[0].criterion(criterion)


def uicc(code: str, snomed: str | None = None) -> Any:
    codings = [{"system": UICC, "code": code, "display": code}]
    if snomed:
        codings.append({"system": SNOMED, "code": snomed})

    def edit(resource: dict[str, Any]) -> None:
        resource["valueCodeableConcept"] = {"coding": codings}

    return edit


def test_uicc_categories_stage_as_the_ajcc_ones() -> None:
    met = screen(CANDIDATE, TORCH, "clinical_stage", {T_OBS: uicc("T2"), N_OBS: uicc("N0")})
    assert met.status == "met", met.reason
    assert "Clinical T category T2" in met.reason
    assert "Clinical N category N0" in met.reason
    too_far = screen(CANDIDATE, TORCH, "clinical_stage", {T_OBS: uicc("T4a")})
    assert too_far.status == "not_met"
    # The SNOMED CT UICC qualifier value sent alongside decides the same way.
    both = screen(CANDIDATE, TORCH, "clinical_stage", {T_OBS: uicc("T3", "1352966002")})
    assert both.status == "unknown"  # T3 may be T3c/T3d, beyond T3b
    assert "could be T3a, T3b, T3c, T3d" in both.reason
    metastatic = screen(CANDIDATE, TORCH, "no_distant_metastasis", {M_OBS: uicc("M1a")})
    assert metastatic.status == "not_met"
    clear = screen(CANDIDATE, TORCH, "no_distant_metastasis", {M_OBS: uicc("M0", "1352512001")})
    assert clear.status == "met", clear.reason


def test_post_therapy_staging_marked_by_a_modifier_decides_nothing() -> None:
    def ypt2(resource: dict[str, Any]) -> None:
        uicc("T2")(resource)
        resource["modifierExtension"] = [Y_PREFIX]

    result = screen(CANDIDATE, TORCH, "clinical_stage", {T_OBS: ypt2})
    assert result.status == "unknown"
    assert f"Observation/{T_OBS} is unusable (a modifier extension changes its meaning" in (
        result.reason
    )
    assert "mii-ex-onko-tnm-y-praefix" in result.reason


def test_a_modified_condition_or_order_is_unusable_not_absent() -> None:
    def modified(resource: dict[str, Any]) -> None:
        resource["modifierExtension"] = [{"url": "http://example.org/fhir/negated"}]

    diagnosis = screen(
        "likely_eligible",
        "scrt-capeox-serplulimab-rectal",
        "rectal_adenocarcinoma",
        {"likely-eligible-cond1": modified},
    )
    assert diagnosis.status == "unknown"
    assert "Condition/likely-eligible-cond1 could not be used" in diagnosis.reason
    assert "http://example.org/fhir/negated" in diagnosis.reason
    drugs = screen(
        "likely_eligible",
        "scrt-capeox-serplulimab-rectal",
        "anticoagulants",
        {"likely-eligible-med21": modified},
    )
    assert drugs.status == "unknown"
    assert "MedicationRequest/likely-eligible-med21 could not be used" in drugs.reason


def test_an_unusable_msi_result_is_named() -> None:
    def modified(resource: dict[str, Any]) -> None:
        resource["modifierExtension"] = [Y_PREFIX]

    result = screen(
        "likely_eligible",
        "scrt-capeox-serplulimab-rectal",
        "msi_mmr",
        {"likely-eligible-obs7": modified},
    )
    assert result.status == "unknown"
    assert result.reason.startswith("No usable MSI or MMR result: MSI no result")
    assert "Observation/likely-eligible-obs7 is unusable" in result.reason


@pytest.mark.parametrize(
    ("element", "urls"),
    [
        ({}, []),
        ({"modifierExtension": []}, []),
        (
            {"modifierExtension": [{"url": "http://a"}, {"url": "http://b"}]},
            ["http://a", "http://b"],
        ),
        ({"modifierExtension": [{"valueBoolean": True}]}, ["(no url)"]),
        ({"modifierExtension": {"url": "http://single"}}, ["http://single"]),
        ({"modifierExtension": ["text"]}, ["(no url)"]),
    ],
)
def test_modifier_extensions_are_read_from_any_shape(element: Any, urls: list[str]) -> None:
    assert modifier_extensions(element) == urls


@pytest.mark.parametrize(
    ("text", "status"),
    [("T2", "met"), ("cT2", "met"), ("ct2", "met"), ("T4b", "not_met"), ("ycT2", "unknown")],
)
def test_a_category_written_in_words_is_read(text: str, status: str) -> None:
    # A flowsheet or synoptic report sends the category as text; "ycT2" (after therapy) is
    # no baseline category and stays unread.
    def written(resource: dict[str, Any]) -> None:
        resource["valueCodeableConcept"] = {"text": text}

    result = screen(CANDIDATE, TORCH, "clinical_stage", {T_OBS: written})
    assert result.status == status, result.reason
