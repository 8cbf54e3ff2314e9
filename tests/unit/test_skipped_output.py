"""Resources that are present but not this patient's reach the CLI JSON and the card's
result extension with their reason; nothing is dropped silently."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cds_hooks.cards import RESULT_EXTENSION, card_for
from cds_hooks.cli import main
from cds_hooks.eligibility import Engine
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from fhir_mappings.subjects import patient_full_urls

REALISTIC = Path(__file__).resolve().parents[2] / "fixtures" / "realistic"
NO_SUBJECT = REALISTIC / "subject_missing_newer_normal" / "bundle.json"
CLEAN = REALISTIC / "us_core_epic_eligible" / "bundle.json"


def test_cli_json_lists_skipped_resources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", str(NO_SUBJECT), "--as-of", "2026-03-02", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (skipped,) = printed["skipped"]
    assert skipped["reason"] == "has no subject; cannot tell whose data it is"
    assert skipped["reference"].startswith("Observation/")
    scrt = next(t for t in printed["trials"] if t["registry"] == "NCT06850103")
    renal = next(c for c in scrt["criteria"] if c["id"] == "renal_function")
    assert renal["status"] == "not_met"


def test_cli_output_without_skipped_resources_keeps_its_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["screen", str(CLEAN), "--as-of", "2026-03-02", "--format", "json"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["patient", "as_of", "trials"]


def test_cli_text_names_skipped_resources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", str(NO_SUBJECT), "--as-of", "2026-03-02"]) == 0
    assert "skipped Observation/" in capsys.readouterr().out


def test_card_extension_carries_skipped_resources() -> None:
    engine = Engine.default()
    bundle = json.loads(
        (REALISTIC / "subject_display_only" / "bundle.json").read_text(encoding="utf-8")
    )
    record = build_record(resources_from_bundle(bundle), patient_urls=patient_full_urls(bundle))
    screening = engine.screen(record, date(2026, 3, 2), ["scrt-capeox-serplulimab-rectal"])
    trial = engine.trials[screening.trials[0].trial]
    card = card_for(
        trial, screening.trials[0], screening, engine.terminology, skipped=record.skipped_json()
    )
    assert card is not None
    extension = card.wire()["extension"][RESULT_EXTENSION]
    assert extension["skipped"] == record.skipped_json()
    assert extension["skipped"][0]["reason"].startswith("subject is a display name only")
