""" "Pregnant or breast-feeding" (TORCH-E2, RAPIDO) for every recorded sex.

A woman's record decides as it says (nothing on record: unknown). For a patient whose
recorded sex is not female the exclusion is cleared only when the record holds no pregnancy
or breast-feeding result at all in the window; a positive result for a man is a
contradiction (wrong sex recorded, or another person's result) for the study team, not a
clear and not an exclusion. Also `coded_value`'s `absence: not_met` on its own: what counts
as silence.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.eligibility.context import CodeIndex, Screening, Window
from cds_hooks.eligibility.rules import evaluate
from cds_hooks.trials.params import parse_rule
from fhir_mappings.facts import LOINC
from fhir_mappings.record import build_record
from fhir_mappings.terminology import load_terminology

ENGINE = Engine.default()
AS_OF = date(2026, 3, 2)
SNOMED = "http://snomed.info/sct"
POSITIVE = {"coding": [{"system": LOINC, "code": "LA6576-8"}]}
NEGATIVE = {"coding": [{"system": LOINC, "code": "LA6577-6"}]}


def patient(gender: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-04-20"}
    if gender is not None:
        resource["gender"] = gender
    return resource


def pregnancy_test(
    answer: dict[str, Any] | None = None, when: str = "2026-02-28", **changes: Any
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "hcg",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "2106-3"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "valueCodeableConcept": answer or POSITIVE,
    }
    resource.update(changes)
    return resource


def exclusion(*resources: dict[str, Any], trial: str = "torch-e2") -> tuple[str, str]:
    result = ENGINE.screen(build_record(list(resources)), AS_OF, [trial]).trials[0]
    criterion = result.criterion("pregnancy_breastfeeding")
    return criterion.status, criterion.reason


@pytest.mark.parametrize("trial", ["torch-e2", "rapido"])
def test_a_man_with_nothing_on_record_is_cleared_and_the_search_is_named(trial: str) -> None:
    result = ENGINE.screen(build_record([patient("male")]), AS_OF, [trial]).trials[0]
    criterion = result.criterion("pregnancy_breastfeeding")
    assert criterion.status == "not_met"
    assert "No pregnancy test in the last 7 days among 0 results reviewed" in criterion.reason
    assert [e.reference for e in criterion.evidence] == ["Patient/p1", "Observation?patient=p1"]


@pytest.mark.parametrize("trial", ["torch-e2", "rapido"])
def test_a_positive_pregnancy_test_for_a_man_goes_to_the_study_team(trial: str) -> None:
    status, reason = exclusion(patient("male"), pregnancy_test(POSITIVE), trial=trial)
    assert status == "unknown"
    assert "recorded sex is not female" in reason


@pytest.mark.parametrize(
    ("gender", "answer", "expected"),
    [
        ("male", NEGATIVE, "not_met"),
        ("female", POSITIVE, "met"),
        # A woman's negative test leaves breast-feeding open.
        ("female", NEGATIVE, "unknown"),
        ("female", None, "unknown"),
        # Administrative gender "other" or none says nothing about whether the patient can
        # be pregnant: their silence clears nothing.
        ("other", POSITIVE, "unknown"),
        ("other", None, "unknown"),
        (None, None, "unknown"),
        (None, NEGATIVE, "unknown"),
        (None, POSITIVE, "unknown"),
    ],
)
def test_pregnancy_exclusion_by_recorded_sex(
    gender: str | None, answer: dict[str, Any] | None, expected: str
) -> None:
    resources = [patient(gender)] + ([pregnancy_test(answer)] if answer else [])
    assert exclusion(*resources)[0] == expected


# --------------------------------------------------------------- absence on coded_value
TERMINOLOGY = load_terminology()
SILENT_CLEARS = parse_rule(
    {
        "type": "coded_value",
        "label": "Pregnancy test",
        "code_set": "pregnancy_test",
        "met_values": "positive_values",
        "not_met_values": "negative_values",
        "met_text": "positive",
        "not_met_text": "negative",
        "absence": "not_met",
    }
)


def coded(*observations: dict[str, Any], unavailable: bool = False) -> tuple[str, str]:
    record = build_record(
        [patient("male"), *observations],
        unavailable={"Observation": "the FHIR server timed out"} if unavailable else None,
    )
    index = CodeIndex.build(TERMINOLOGY, ["pregnancy_test"])
    screening = Screening.build(record, AS_OF, TERMINOLOGY, index)
    outcome = evaluate(SILENT_CLEARS, screening, Window(AS_OF, 7))
    return outcome.status, outcome.reason


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        ([], "not_met"),
        # Older than the window: nothing current on record.
        ([pregnancy_test(when="2026-02-01")], "not_met"),
        # Void results do not count, and do not speak either.
        ([pregnancy_test(status="entered-in-error")], "not_met"),
        ([pregnancy_test(status="cancelled")], "not_met"),
        # A result that is there but cannot decide is not silence.
        ([pregnancy_test(status="preliminary")], "unknown"),
        # The window's first day is inside it; the day before is not.
        ([pregnancy_test(status="preliminary", when="2026-02-23")], "unknown"),
        ([pregnancy_test(status="preliminary", when="2026-02-22")], "not_met"),
        ([pregnancy_test(status="amended", valueCodeableConcept={"text": "see note"})], "unknown"),
        ([pregnancy_test(when="2026-03-05")], "unknown"),
        ([{k: v for k, v in pregnancy_test().items() if k != "effectiveDateTime"}], "unknown"),
        # A result inside the window decides as it says.
        ([pregnancy_test(NEGATIVE)], "not_met"),
        ([pregnancy_test(POSITIVE)], "met"),
    ],
)
def test_what_coded_value_accepts_as_silence(
    observations: list[dict[str, Any]], expected: str
) -> None:
    assert coded(*observations)[0] == expected


def test_observations_that_could_not_be_retrieved_are_not_silence() -> None:
    status, reason = coded(unavailable=True)
    assert status == "unknown"
    assert "could not be retrieved" in reason


def test_a_panel_holding_the_component_looked_for_is_not_silence() -> None:
    # A pregnancy test sent as one component of a panel whose own code no set names; still
    # preliminary, so it decides nothing, but it is there.
    rule = parse_rule(
        {
            **{k: v for k, v in SILENT_CLEARS.as_raw().items() if v is not None},
            "code_set": "pregnancy_status",
            "component": "pregnancy_test",
        }
    )
    panel = {
        **pregnancy_test(status="preliminary"),
        "code": {"coding": [{"system": LOINC, "code": "24357-6"}]},
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "2106-3"}]},
                "valueCodeableConcept": POSITIVE,
            }
        ],
    }
    del panel["valueCodeableConcept"]
    index = CodeIndex.build(TERMINOLOGY, ["pregnancy_status", "pregnancy_test"])
    for observations, expected in (([panel], "unknown"), ([], "not_met")):
        record = build_record([patient("male"), *observations])
        screening = Screening.build(record, AS_OF, TERMINOLOGY, index)
        assert evaluate(rule, screening, Window(AS_OF, 7)).status == expected
