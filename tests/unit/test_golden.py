"""Golden tests: every fixture persona screens to its reviewed expected.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from fixtures import generate

PATIENTS = Path(__file__).resolve().parents[2] / "fixtures" / "patients"
PERSONAS = sorted(p.name for p in PATIENTS.iterdir() if (p / "bundle.json").exists())


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


def _diff(expected: dict[str, Any], got: dict[str, Any]) -> str:
    lines = []
    for e, g in zip(expected["trials"][0]["criteria"], got["trials"][0]["criteria"], strict=True):
        if e != g:
            lines.append(
                f"{e['id']}: expected {e['status']} ({e['reason']}) "
                f"got {g['status']} ({g['reason']})"
            )
    return "\n".join(lines)


@pytest.mark.parametrize("persona", PERSONAS)
def test_persona_matches_expected(engine: Engine, persona: str) -> None:
    folder = PATIENTS / persona
    expected = _load(folder / "expected.json")
    record = build_record(resources_from_bundle(_load(folder / "bundle.json")))
    got = engine.screen(record, generate.AS_OF).to_json()
    assert got == expected, _diff(expected, got)


@pytest.mark.parametrize("persona", PERSONAS)
def test_expected_statuses_match_the_hand_derivation(persona: str) -> None:
    """expected.json must agree with the statuses derived by hand in fixtures/generate.py,
    so a regenerated golden file can never quietly absorb an engine bug."""
    hand = generate.EXPECTED_STATUS[persona]
    trial = _load(PATIENTS / persona / "expected.json")["trials"][0]
    assert trial["status"] == hand["trial"]
    assert {c["id"]: c["status"] for c in trial["criteria"]} == hand["criteria"]


def test_every_persona_has_a_hand_derivation() -> None:
    assert set(PERSONAS) == set(generate.EXPECTED_STATUS)
    assert len(PERSONAS) >= 15


def test_fixtures_cover_every_outcome_of_every_data_criterion() -> None:
    seen: dict[str, set[str]] = {}
    for persona in PERSONAS:
        for c in _load(PATIENTS / persona / "expected.json")["trials"][0]["criteria"]:
            seen.setdefault(c["id"], set()).add(c["status"])
    # Criteria whose not_met path the rules make reachable from data.
    for criterion in (
        "age",
        "rectal_adenocarcinoma",
        "synchronous_oligometastases",
        "msi_mmr",
        "ecog",
        "anc",
        "platelets",
        "hemoglobin",
        "alt_ast",
        "renal_function",
        "inr",
        "aptt",
        "pregnancy_contraception",
    ):
        assert seen[criterion] >= {"met", "not_met", "unknown"} - (
            {"met"} if criterion == "pregnancy_contraception" else set()
        ), criterion
    for criterion in generate.D:
        assert "unknown" in seen[criterion], criterion


def test_cli_reproduces_expected_json() -> None:
    folder = PATIENTS / "likely_eligible"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cds_hooks.cli",
            "screen",
            str(folder / "bundle.json"),
            "--as-of",
            "2026-03-02",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == _load(folder / "expected.json")
