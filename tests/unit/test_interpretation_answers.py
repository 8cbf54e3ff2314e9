"""A qualitative result sent only as its interpretation (v3 POS / NEG / DET / ND, no value)
is read as the test's answer, as labs send pregnancy tests; a value and an interpretation
that disagree are unknown."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from fhir_mappings.facts import LOINC
from fhir_mappings.record import build_record

ENGINE = Engine.default()
TRIALS = ["scrt-capeox-serplulimab-rectal", "torch-e2"]
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1990-04-20"}


def hcg(flag: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "hcg",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "2106-3"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-02-28",
        "interpretation": [{"coding": [{"system": V3, "code": flag}]}],
        **value,
    }


def statuses(resource: dict[str, Any]) -> tuple[str, str]:
    result = ENGINE.screen(build_record([PATIENT, resource]), date(2026, 3, 2), TRIALS)
    scrt, torch = result.trials
    return (
        scrt.criterion("pregnancy_contraception").reason.split(";")[0],
        torch.criterion("pregnancy_breastfeeding").status,
    )


@pytest.mark.parametrize(
    ("flag", "scrt", "torch"),
    [
        ("POS", "Positive pregnancy test on 2026-02-28", "met"),
        ("DET", "Positive pregnancy test on 2026-02-28", "met"),
        ("NEG", "Negative pregnancy test on 2026-02-28", "unknown"),  # breastfeeding unknown
        ("ND", "Negative pregnancy test on 2026-02-28", "unknown"),
    ],
)
def test_an_interpretation_alone_is_the_answer(flag: str, scrt: str, torch: str) -> None:
    assert statuses(hcg(flag)) == (scrt, torch)


def test_an_interpretation_that_contradicts_the_value_is_unknown() -> None:
    negative = {"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA6577-6"}]}}
    scrt, torch = statuses(hcg("POS", **negative))
    assert (
        scrt
        == "Pregnancy test Observation/hcg on 2026-02-28: its value and interpretation disagree"
    )
    assert torch == "unknown"
