"""Golden test for the realistic-shape personas (fixtures/realistic): EHR- and national-
profile-shaped Bundles screen to the criterion statuses worked out by hand from the trial
text and the safety rules (fixtures/realistic/generate.py, EXPECTED per persona)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from fhir_mappings.subjects import patient_full_urls
from fixtures.realistic import generate

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "realistic"
PERSONAS = sorted(p.name for p in ROOT.iterdir() if (p / "bundle.json").exists())
BUILT = generate.bundles()


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


def test_at_least_25_personas_and_every_one_is_generated() -> None:
    assert len(PERSONAS) >= 25
    assert set(PERSONAS) == set(generate.PERSONAS)


@pytest.mark.parametrize("persona", PERSONAS)
def test_committed_bundle_is_the_generator_output(persona: str) -> None:
    assert _load(ROOT / persona / "bundle.json") == BUILT[persona]
    assert _load(ROOT / persona / "expected.json") == generate.expected(persona)


@pytest.mark.parametrize("persona", PERSONAS)
def test_persona_screens_to_its_reviewed_statuses(engine: Engine, persona: str) -> None:
    bundle = _load(ROOT / persona / "bundle.json")
    expected = _load(ROOT / persona / "expected.json")
    record = build_record(resources_from_bundle(bundle), patient_urls=patient_full_urls(bundle))
    result = engine.screen(record, date.fromisoformat(expected["as_of"]), [expected["trial"]])
    trial = result.trials[0]
    got = {c.id: c for c in trial.criteria}
    wrong = {
        c: (want, got[c].status, got[c].reason)
        for c, want in expected["criteria"].items()
        if got[c].status != want
    }
    assert not wrong, f"{persona}: {wrong}"
    assert trial.status == expected["status"]
    for criterion, text in expected["reason_contains"].items():
        assert text in got[criterion].reason, (criterion, got[criterion].reason)
    reasons = [reason for _, reason in record.skipped]
    assert len(reasons) == len(expected["skipped_reasons"]), reasons
    for text in expected["skipped_reasons"]:
        assert any(text in reason for reason in reasons), (text, reasons)
    # Never met without dated evidence, whatever the shape.
    for c in trial.criteria:
        if c.status == "met":
            assert any(e.date for e in c.evidence), c.id
