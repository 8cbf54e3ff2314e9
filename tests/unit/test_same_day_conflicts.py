"""Two results of one sample (same day, same or no time of day) that say different things:
rules that read one result's value as it is (MSI, a dipstick grade, a coded answer) cannot
pick one, so the criterion is unknown and names both; the same value twice still decides,
and a later time of day still wins."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.eligibility.results import CriterionResult, Evidence
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record

ENGINE = Engine.default()
SCRT = "scrt-capeox-serplulimab-rectal"
AS_OF = date(2026, 3, 2)
LOINC = "http://loinc.org"
BASE = json.loads(
    (Path(__file__).parents[2] / "fixtures/patients/likely_eligible/bundle.json").read_text()
)
MSI = "81695-9"
MSS = {"coding": [{"system": LOINC, "code": "LA14122-8", "display": "Stable"}]}
MSI_H = {"coding": [{"system": LOINC, "code": "LA26203-2", "display": "MSI-H"}]}


def _observation(bundle: dict[str, Any], code: str) -> dict[str, Any]:
    return next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and any(c.get("code") == code for c in e["resource"]["code"]["coding"])
    )


def with_copy(code: str, new_id: str, **changes: Any) -> list[dict[str, Any]]:
    """The base patient plus a copy of its `code` result with `changes`."""
    bundle = copy.deepcopy(BASE)
    twin = {**copy.deepcopy(_observation(bundle, code)), "id": new_id, **changes}
    bundle["entry"].append({"fullUrl": f"urn:uuid:{new_id}", "resource": twin})
    return resources_from_bundle(bundle)


def criterion(resources: list[dict[str, Any]], name: str) -> CriterionResult:
    result = ENGINE.screen(build_record(resources), AS_OF, [SCRT]).trials[0]
    return result.criterion(name)


def test_mss_and_msi_high_of_one_sample_are_unknown_and_both_named() -> None:
    result = criterion(with_copy(MSI, "msi2", valueCodeableConcept=MSI_H), "msi_mmr")
    assert (result.status, result.reason) == (
        "unknown",
        "MSI: 2 results on 2026-01-23 disagree "
        "(Observation/likely-eligible-obs7, Observation/msi2)",
    )
    note = "microsatellite instability"
    assert result.evidence == (
        Evidence("Observation/likely-eligible-obs7", "LA14122-8", None, "2026-01-23", note),
        Evidence("Observation/msi2", "LA26203-2", None, "2026-01-23", note),
    )


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        # The same answer twice (another wording of the same code): it decides.
        ({"valueCodeableConcept": {**MSS, "text": "MSS"}}, "met"),
        # MSI-H later that day: the newest result decides.
        (
            {"valueCodeableConcept": MSI_H, "effectiveDateTime": "2026-01-23T15:00:00+01:00"},
            "not_met",
        ),
        # MSI-H with no time of day on the same date: cannot be ordered.
        ({"valueCodeableConcept": MSI_H, "effectiveDateTime": "2026-01-23"}, "unknown"),
        # A preliminary MSI-H does not count, so it does not compete either.
        ({"valueCodeableConcept": MSI_H, "status": "preliminary"}, "met"),
    ],
)
def test_what_competes_with_the_newest_msi_result(changes: dict[str, Any], status: str) -> None:
    assert criterion(with_copy(MSI, "msi2", **changes), "msi_mmr").status == status


def test_two_dipstick_grades_of_one_sample_are_unknown() -> None:
    three_plus = {"coding": [{"system": LOINC, "code": "LA11835-8", "display": "3+"}]}
    result = criterion(
        with_copy("20454-5", "dip2", valueCodeableConcept=three_plus), "urine_protein"
    )
    assert result.status == "unknown"
    assert "2 results on 2026-02-20 disagree" in result.reason
    assert "Observation/dip2" in result.reason


def test_a_lesion_count_sent_twice_with_different_numbers_is_not_counted() -> None:
    result = criterion(
        with_copy("metastatic-lesion-count", "count2", valueInteger=7),
        "synchronous_oligometastases",
    )
    assert (result.status, result.reason) == (
        "unknown",
        "Metastatic lesion count: 2 results on 2026-01-31 disagree "
        "(Observation/likely-eligible-obs5, Observation/count2)",
    )
    assert [(e.reference, e.value) for e in result.evidence[-2:]] == [
        ("Observation/likely-eligible-obs5", 3),
        ("Observation/count2", 7),
    ]


def _msi_with_component(marker_value: float, new_id: str) -> list[dict[str, Any]]:
    """The base patient's MSI result and a copy of it, both with a marker-count component;
    the copy's component says `marker_value`, the original's 5."""

    def component(count: float) -> list[dict[str, Any]]:
        return [
            {
                "code": {"coding": [{"system": LOINC, "code": "81694-2"}]},
                "valueQuantity": {"value": count, "unit": "{markers}"},
            }
        ]

    bundle = copy.deepcopy(BASE)
    _observation(bundle, MSI)["component"] = component(5)
    twin = {
        **copy.deepcopy(_observation(bundle, MSI)),
        "id": new_id,
        "component": component(marker_value),
    }
    bundle["entry"].append({"fullUrl": f"urn:uuid:{new_id}", "resource": twin})
    return resources_from_bundle(bundle)


def test_a_result_sent_twice_with_the_same_components_still_decides() -> None:
    assert criterion(_msi_with_component(5, "msi2"), "msi_mmr").status == "met"


def test_results_of_one_sample_that_differ_only_in_a_component_disagree() -> None:
    result = criterion(_msi_with_component(6, "msi2"), "msi_mmr")
    assert result.status == "unknown"
    assert "2 results on 2026-01-23 disagree" in result.reason
