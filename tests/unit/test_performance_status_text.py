"""ECOG and Karnofsky written as text, as flowsheets and German oncology systems send them
("ECOG 1", "ECOG PS 2", "Grade 1", "KPS 80%", a CodeableConcept with only text "1"): read
as the scale's coded answer. A range ("0-1") or a sentence is not guessed."""

from __future__ import annotations

from typing import Any

import pytest

from cds_hooks.eligibility.results import MET, NOT_MET, UNKNOWN
from tests.unit.screen_edits import screen_with_value


def ecog(value: dict[str, Any]) -> str:
    # The first trial's "ECOG 0-1".
    return screen_with_value(
        "likely_eligible", "scrt-capeox-serplulimab-rectal", "ecog", "89247-1", value
    ).status


def kps(value: dict[str, Any]) -> str:
    return screen_with_value("torch_e2_candidate", "torch-e2", "kps", "89243-0", value).status


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("ECOG 1", MET),
        ("ecog ps 0", MET),
        ("ECOG PS: 1", MET),
        ("Grade 1", MET),
        ("ECOG 2", NOT_MET),
        ("ECOG PS 3", NOT_MET),
        ("0-1", UNKNOWN),  # a range: which one cannot be told
        # The grade with its own wording, whole or cut short, as flowsheets display it.
        ("1 - Restricted in physically strenuous activity", MET),
        ("1 - Restricted in physically strenu", MET),
        ("ECOG 1: Restricted in physically strenuous activity but ambulatory", MET),
        ("1 (restricted in physically strenuous activity)", MET),
        ("0 = Fully active, able to carry on all pre-disease performance", MET),
        ("2 - Ambulatory and capable of all self-care", NOT_MET),
        ("5 - Dead", NOT_MET),
        # A number with another grade's wording, a comment, a range: not guessed.
        ("1 - Fully active", UNKNOWN),
        ("1 - restricted, but recently worse", UNKNOWN),
        ("1 - 2", UNKNOWN),
        ("1 - r", UNKNOWN),
        ("1 -", UNKNOWN),
        ("ECOG 6", UNKNOWN),  # not on the scale
    ],
)
def test_ecog_as_text(text: str, status: str) -> None:
    assert ecog({"valueString": text}) == status


def test_ecog_as_a_codeable_concept_with_only_text() -> None:
    assert ecog({"valueCodeableConcept": {"text": "1"}}) == MET
    assert ecog({"valueCodeableConcept": {"text": "3"}}) == NOT_MET


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("KPS 80%", MET),
        ("Karnofsky 70", MET),
        ("kps: 60%", NOT_MET),
        ("KPS 60-70", UNKNOWN),
        # With LOINC LL4986-7's wording of that score, and only with it.
        ("80 - Normal activity with effort", MET),
        ("KPS 70: Cares for self; unable to carry on normal activity or do active work", MET),
        ("60 - Requires occasional assistance", NOT_MET),
        ("90 - Normal activity with effort", UNKNOWN),
    ],
)
def test_karnofsky_as_text(text: str, status: str) -> None:
    assert kps({"valueString": text}) == status


def test_karnofsky_as_a_codeable_concept_with_only_text() -> None:
    assert kps({"valueCodeableConcept": {"text": "90"}}) == MET
