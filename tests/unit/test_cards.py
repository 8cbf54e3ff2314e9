"""Screening results → CDS Hooks cards, on the engine's real results for fixture personas.

Every card is validated against the vendored CDS Hooks 2.0 schema (strict variant)."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cds_hooks.api.models import Card, Source, Suggestion
from cds_hooks.cards import (
    OVERRIDE_SYSTEM,
    RESULT_EXTENSION,
    card_for,
    card_rank,
    has_target_condition,
    missing_orders,
    starts_treatment,
)
from cds_hooks.eligibility import Engine, ScreeningResult, TrialResult
from cds_hooks.eligibility.deadlines import screen_by
from cds_hooks.trials import TrialDefinition
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.facts import PatientRecord
from fhir_mappings.record import build_record
from tests.support.cds_schema import assert_valid

AS_OF = date(2026, 3, 2)
PATIENTS = Path(__file__).resolve().parents[2] / "fixtures" / "patients"
TRIAL_ID = "scrt-capeox-serplulimab-rectal"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"


@cache
def engine() -> Engine:
    return Engine.default()


@cache
def screened(persona: str) -> tuple[PatientRecord, ScreeningResult]:
    bundle = json.loads((PATIENTS / persona / "bundle.json").read_text())
    record = build_record(resources_from_bundle(bundle))
    return record, engine().screen(record, AS_OF, [TRIAL_ID])


def trial() -> TrialDefinition:
    return engine().trials[TRIAL_ID]


def card(persona: str, **kw: Any) -> dict[str, Any] | None:
    _, screening = screened(persona)
    made = card_for(trial(), screening.trials[0], screening, engine().terminology, **kw)
    return made.wire() if made is not None else None


def result_of(persona: str) -> TrialResult:
    return screened(persona)[1].trials[0]


def test_likely_eligible_card_refers_to_the_coordinator() -> None:
    assert result_of("likely_eligible").status == "likely_eligible"
    c = card("likely_eligible")
    assert c is not None
    assert_valid(c, "card")
    assert c["indicator"] == "info"
    assert len(c["summary"]) < 140
    assert trial().short_title in c["summary"]
    assert c["selectionBehavior"] == "at-most-one"
    assert c["source"]["label"]
    assert c["source"]["url"] == trial().url
    assert c["source"]["topic"]["code"] == "NCT06850103"
    assert c["links"] == [
        {
            "label": "NCT06850103 on ClinicalTrials.gov",
            "url": "https://clinicaltrials.gov/study/NCT06850103",
            "type": "absolute",
        }
    ]
    referral = c["suggestions"][0]
    assert referral["label"] == "Refer to trial coordinator"
    assert referral["isRecommended"] is True
    (action,) = referral["actions"]
    assert action["type"] == "create"
    request = action["resource"]
    assert request["resourceType"] == "ServiceRequest"
    assert (request["status"], request["intent"]) == ("draft", "proposal")
    assert request["subject"] == {"reference": "Patient/likely-eligible"}
    assert request["code"]["coding"][0]["code"] == "3457005"
    assert "NCT06850103" in request["reasonCode"][0]["text"]
    assert trial().title in request["note"][0]["text"]
    # No lab orders when nothing is missing.
    assert [s["label"] for s in c["suggestions"]] == ["Refer to trial coordinator"]


def test_override_reasons_are_codings_with_display() -> None:
    c = card("likely_eligible")
    assert c is not None
    assert [(r["system"], r["code"]) for r in c["overrideReasons"]] == [
        (OVERRIDE_SYSTEM, "patient-declined"),
        (OVERRIDE_SYSTEM, "not-a-candidate"),
        (OVERRIDE_SYSTEM, "already-screened"),
        (OVERRIDE_SYSTEM, "other"),
    ]
    assert all(r["display"] for r in c["overrideReasons"])
    assert OVERRIDE_SYSTEM.startswith("http")


def test_every_card_and_suggestion_has_its_own_uuid() -> None:
    first, second = card("data_quality_unknowns"), card("data_quality_unknowns")
    assert first is not None
    assert second is not None
    ids = [first["uuid"], second["uuid"]]
    ids += [s["uuid"] for c in (first, second) for s in c["suggestions"]]
    assert len(ids) == len(set(ids)) == 6
    uuid_re = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    assert all(uuid_re.fullmatch(i) for i in ids)


def non_empty(detail: str) -> list[str]:
    return [line for line in detail.splitlines() if line.strip()]


def test_detail_puts_what_decides_first_then_the_count_then_the_report_link() -> None:
    url = "https://cds.example.org/reports/" + "A" * 43
    _, screening = screened("data_quality_unknowns")
    result = screening.trials[0]
    made = card_for(trial(), result, screening, engine().terminology, report_url=url)
    assert made is not None
    assert made.detail is not None
    lines = non_empty(made.detail)
    assert len(lines) <= 12
    assert lines[0] == "**Missing or not usable**"
    data_open = [
        r
        for r in result.criteria
        if r.status == "unknown" and trial().criterion(r.id).kind == "data"
    ]
    person = [
        r
        for r in result.criteria
        if r.status == "unknown" and trial().criterion(r.id).kind != "data"
    ]
    assert data_open
    assert person
    deadline = screen_by(trial(), result)
    assert deadline is not None
    for r in data_open:
        (line,) = [x for x in lines if x.startswith(f"- {trial().criterion(r.id).title}:")]
        assert line.endswith(f"needed by {deadline.isoformat()}"), line
    team = lines.index("**Needs the study team**")
    assert team > len(data_open)
    met = sum(1 for r in result.criteria if r.passes)
    assert lines[-2] == f"{met} of {len(result.criteria)} criteria met"
    assert lines[-1] == f"[Open the screening report]({url})"
    assert made.links is not None
    first = made.links[0]
    assert (first.url, first.type) == (url, "absolute")


def test_detail_units_read_as_people_write_them() -> None:
    c = card("data_quality_unknowns")
    assert c is not None
    assert "10*9" not in c["detail"]
    assert "{INR}" not in c["detail"]
    # The INR with a unit nobody knows: the reason, without its resource reference.
    assert "- INR ≤ 1.5: unit 'furlongs/L' not recognised — needed by" in c["detail"]
    assert "Observation/" not in c["detail"]


def test_every_persona_card_detail_is_at_most_twelve_lines() -> None:
    url = "https://cds.example.org/reports/" + "B" * 43
    for persona in sorted(p.name for p in PATIENTS.iterdir() if p.is_dir()):
        _, screening = screened(persona)
        made = card_for(
            trial(), screening.trials[0], screening, engine().terminology, report_url=url
        )
        if made is None:
            continue
        assert made.detail is not None
        lines = non_empty(made.detail)
        assert len(lines) <= 12, persona
        assert lines[-1].endswith(f"({url})"), persona
        assert len(made.summary) < 140


def test_likely_eligible_detail_starts_with_what_needs_the_study_team() -> None:
    c = card("likely_eligible")
    assert c is not None
    lines = non_empty(c["detail"])
    assert lines[0] == "**Needs the study team**"
    assert "Missing or not usable" not in c["detail"]


def test_without_a_stored_report_there_is_no_report_link() -> None:
    c = card("likely_eligible")
    assert c is not None
    assert "screening report" not in c["detail"]
    assert [link["url"] for link in c["links"]] == [trial().url]
    assert non_empty(c["detail"])[-1].endswith("criteria met")


def test_a_long_open_list_is_cut_with_a_pointer_to_the_report() -> None:
    result = result_of("data_quality_unknowns")
    all_open = dataclasses.replace(
        result,
        criteria=tuple(
            dataclasses.replace(c, status="unknown", reason=f"{c.id} missing")
            for c in result.criteria
        ),
    )
    _, screening = screened("data_quality_unknowns")
    made = card_for(trial(), all_open, screening, engine().terminology, report_url="https://x/r")
    assert made is not None
    assert made.detail is not None
    lines = non_empty(made.detail)
    assert len(lines) == 12
    assert any(re.fullmatch(r"- … \d+ more in the report", x) for x in lines)
    assert lines[-2] == f"0 of {len(result.criteria)} criteria met"


HOSTILE = "*bold* _x_ [click](javascript:alert(1)) <img src=x onerror=alert(1)> `c` # h &amp;"


def test_text_from_data_is_escaped_for_markdown() -> None:
    result = result_of("data_quality_unknowns")
    criteria = tuple(
        dataclasses.replace(c, reason=f"{HOSTILE}\n- injected line") if c.id == "anc" else c
        for c in result.criteria
    )
    hostile_trial = dataclasses.replace(trial(), title=f"Trial {HOSTILE}")
    _, screening = screened("data_quality_unknowns")
    made = card_for(
        hostile_trial,
        dataclasses.replace(result, criteria=criteria),
        screening,
        engine().terminology,
    )
    assert made is not None
    assert made.detail is not None
    assert "- injected line" not in made.detail.splitlines()
    for raw in ("*bold*", "_x_", "[click]", "<img", "`c`", "&amp;", "# h"):
        # Only the escaped form, with a backslash before the special character.
        assert not re.search(r"(?<!\\)" + re.escape(raw), made.detail), raw
    assert r"\*bold\* \_x\_ \[click\](javascript:alert(1)) \<img" in made.detail
    assert r"\&amp;" in made.detail


def test_cards_rank_likely_before_possibly_then_fewer_unknowns_then_registry() -> None:
    likely = dataclasses.replace(result_of("likely_eligible"), registry="NCT9")
    possibly = result_of("data_quality_unknowns")
    fewer = dataclasses.replace(result_of("c20_without_histology"), registry="NCT2")
    tie = dataclasses.replace(fewer, registry="NCT1")
    ranked = sorted([possibly, fewer, likely, tie], key=card_rank)
    assert [r.registry for r in ranked] == ["NCT9", "NCT1", "NCT2", possibly.registry]


def test_a_trial_that_is_not_recruiting_gets_no_card() -> None:
    closed = dataclasses.replace(trial(), recruitment_status="completed")
    _, screening = screened("likely_eligible")
    assert card_for(closed, screening.trials[0], screening, engine().terminology) is None


def test_possibly_eligible_lists_unknowns_and_orders_their_labs() -> None:
    result = result_of("data_quality_unknowns")
    assert result.status == "possibly_eligible"
    c = card("data_quality_unknowns")
    assert c is not None
    assert_valid(c, "card")
    assert c["indicator"] == "info"
    assert c["summary"].startswith("Possibly eligible")
    unknown_data = [
        r
        for r in result.criteria
        if r.status == "unknown" and trial().criterion(r.id).kind == "data"
    ]
    block = c["detail"].split("**Missing or not usable**")[1].split("**Needs the study team**")[0]
    for r in unknown_data:
        assert f"- {trial().criterion(r.id).title}:" in block
    referral, orders = c["suggestions"]
    assert referral["isRecommended"] is False
    assert orders["label"] == "Order the missing tests"
    ordered = {
        (a["resource"]["code"]["coding"][0]["system"], a["resource"]["code"]["coding"][0]["code"])
        for a in orders["actions"]
    }
    expected = missing_orders(trial(), result, engine().terminology)
    assert ordered == {("http://loinc.org", code) for code, _ in expected}
    assert {"751-8", "777-3", "718-7"} <= {code for _, code in ordered}
    for action in orders["actions"]:
        assert action["resource"]["status"] == "draft"
        assert action["resource"]["subject"] == {"reference": "Patient/data-quality"}


def test_missing_orders_only_for_unknown_data_criteria() -> None:
    result = result_of("data_quality_unknowns")
    everything_met = dataclasses.replace(
        result,
        criteria=tuple(dataclasses.replace(c, status="met") for c in result.criteria),
    )
    assert missing_orders(trial(), everything_met, engine().terminology) == []


def test_not_eligible_gets_no_card() -> None:
    assert result_of("msi_high").status == "not_eligible"
    assert card("msi_high") is None


def test_extension_carries_the_screen_json_shape() -> None:
    c = card("likely_eligible")
    assert c is not None
    expected = json.loads((PATIENTS / "likely_eligible" / "expected.json").read_text())
    assert c["extension"][RESULT_EXTENSION] == expected
    assert c["extension"][RESULT_EXTENSION] == screened("likely_eligible")[1].to_json()


def test_summary_stays_under_140_characters_with_a_long_trial_name() -> None:
    long = dataclasses.replace(trial(), short_title="Very long trial name " * 10)
    _, screening = screened("likely_eligible")
    made = card_for(long, screening.trials[0], screening, engine().terminology)
    assert made is not None
    c = made.wire()
    assert len(c["summary"]) < 140
    assert c["summary"].startswith("May be eligible for trial: Very long trial name")
    assert_valid(c, "card")


def test_target_disease_required() -> None:
    assert has_target_condition(screened("likely_eligible")[0], trial(), engine().terminology)
    for persona in ("colon_cancer_only", "refuted_diagnosis"):
        record, _ = screened(persona)
        assert not has_target_condition(record, trial(), engine().terminology), persona


# ------------------------------------------------------------------ order hooks
def _orders(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


CAPE: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "cape",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {
        "coding": [{"system": RX, "code": "194000"}],
        "text": "capecitabine 500 mg",
    },
}
METFORMIN: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "met",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {"coding": [{"system": RX, "code": "6809"}], "text": "metformin"},
}
RADIOTHERAPY: dict[str, Any] = {
    "resourceType": "ServiceRequest",
    "id": "rt",
    "status": "draft",
    "intent": "order",
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "108290001"}]},
}


def treatments(orders: dict[str, Any], **kw: Any) -> list[str]:
    return starts_treatment(orders, trial(), engine().terminology, **kw)


def test_treatment_orders_are_recognised_by_code() -> None:
    assert treatments(_orders(CAPE, METFORMIN)) == ["capecitabine 500 mg"]
    assert treatments(_orders(RADIOTHERAPY)) == ["ServiceRequest"]
    procedure = {**RADIOTHERAPY, "resourceType": "Procedure", "status": "preparation"}
    assert treatments(_orders(procedure)) == ["Procedure"]
    assert treatments(_orders(METFORMIN)) == []
    assert treatments(None) == []  # type: ignore[arg-type]


def test_medication_by_reference_contained_or_in_the_draft_orders() -> None:
    contained = copy.deepcopy(CAPE)
    concept = contained.pop("medicationCodeableConcept")
    contained["medicationReference"] = {"reference": "#med"}
    contained["contained"] = [{"resourceType": "Medication", "id": "med", "code": concept}]
    assert treatments(_orders(contained)) == ["capecitabine 500 mg"]
    referenced = copy.deepcopy(CAPE)
    referenced.pop("medicationCodeableConcept")
    referenced["medicationReference"] = {"reference": "Medication/m1"}
    medication = {"resourceType": "Medication", "id": "m1", "code": concept}
    assert treatments(_orders(referenced, medication)) == ["capecitabine 500 mg"]
    assert treatments(_orders(referenced)) == []  # the Medication is nowhere to be read


def test_order_select_counts_only_the_selected_orders() -> None:
    orders = _orders(CAPE, METFORMIN)
    assert treatments(orders, selected=["MedicationRequest/met"]) == []
    assert treatments(orders, selected=["MedicationRequest/cape"]) == ["capecitabine 500 mg"]


def test_treatment_card_is_a_warning_naming_the_order() -> None:
    for persona in ("likely_eligible", "data_quality_unknowns"):
        c = card(persona, treatment_orders=["capecitabine 500 mg"])
        assert c is not None
        assert_valid(c, "card")
        assert c["indicator"] == "warning"
        assert c["summary"] == (
            f"Consider trial {trial().short_title} before starting capecitabine 500 mg"
        )
    assert card("msi_high", treatment_orders=["capecitabine"]) is None


@pytest.mark.parametrize("persona", sorted(p.name for p in PATIENTS.iterdir() if p.is_dir()))
def test_every_persona_card_is_schema_valid(persona: str) -> None:
    c = card(persona)
    if c is None:
        assert result_of(persona).status == "not_eligible"
    else:
        assert_valid({"cards": [c]}, "cardsResponse")


def test_card_model_refuses_what_the_spec_forbids() -> None:
    source = Source(label="x")
    with pytest.raises(ValidationError, match="selectionBehavior"):
        Card(summary="s", indicator="info", source=source, suggestions=[Suggestion(label="a")])
    with pytest.raises(ValidationError, match="at most 139 characters"):
        Card(summary="x" * 140, indicator="info", source=source)
    with pytest.raises(ValidationError, match="selectionBehaviour"):
        Card(summary="s", indicator="info", source=source, selectionBehaviour="any")  # type: ignore[call-arg]
    assert Card(summary="s", indicator="info", source=source).wire() == {
        "summary": "s",
        "indicator": "info",
        "source": {"label": "x"},
    }
