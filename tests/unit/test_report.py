"""The report document built for the page, and the page rendered from it (Jinja2)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path

from cds_hooks.api.reports import _environment, _headers
from cds_hooks.eligibility import Engine, Evidence
from cds_hooks.report import build_report, grouped, report_url
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record

PATIENTS = Path(__file__).resolve().parents[2] / "fixtures" / "patients"
ENGINE = Engine.default()
TRIAL = ENGINE.trials["scrt-capeox-serplulimab-rectal"]
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def screened(persona: str):  # type: ignore[no-untyped-def]
    bundle = json.loads((PATIENTS / persona / "bundle.json").read_text())
    record = build_record(resources_from_bundle(bundle))
    return ENGINE.screen(record, date(2026, 3, 2), [TRIAL.id])


def test_report_document_groups_rows_and_keeps_the_patient_out() -> None:
    screening = screened("si_units_alternate_codes")
    result = screening.trials[0]
    report = build_report(TRIAL, result, screening, ENGINE.terminology, now=NOW)
    assert report["trial"]["registry_id"] == "NCT06850103"
    assert (report["as_of"], report["created"]) == ("2026-03-02", "2026-03-02T09:30:00+00:00")
    # 23 criteria: the registry's 22 and "not deceased". 20 decided in the patient's
    # favour: both exclusions (no death, no prior immunotherapy) among them.
    assert (report["met"], report["total"]) == (20, 23)
    rows = {c["id"]: c for c in report["criteria"]}
    anc = rows["anc"]
    assert anc["evidence"][0]["value"] == "2.1 ×10⁹/L (2100 cells/µL)"
    assert anc["needed_by"] == "2026-03-20"  # 2026-02-20 + 28 days lookback
    assert rows["age"]["evidence"][0]["source"] == "Patient"
    assert rows["anticoagulants"]["evidence"][0]["source"] == "MedicationRequest?status=active"
    assert "si-units" not in json.dumps([rows[k]["evidence"] for k in ("age", "anticoagulants")])
    assert rows["anc"]["source_text"].startswith("Absolute Neutrophil Count")
    assert [key for key, _, _ in grouped(report)] == ["open", "passes"]


def test_an_exclusion_that_is_met_is_grouped_against_eligibility() -> None:
    screening = screened("likely_eligible")
    result = screening.trials[0]
    excluded = dataclasses.replace(
        result.criterion("anticoagulants"), role="exclusion", status="met"
    )
    criteria = tuple(excluded if c.id == excluded.id else c for c in result.criteria)
    report = build_report(
        TRIAL, dataclasses.replace(result, criteria=criteria), screening, ENGINE.terminology
    )
    groups = {key: [c["id"] for c in rows] for key, _, rows in grouped(report)}
    assert groups["fails"] == ["anticoagulants"]
    assert "anticoagulants" not in groups["passes"]


def test_the_page_escapes_everything_from_data() -> None:
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)> \"q' &amp;"
    screening = screened("data_quality_unknowns")
    result = screening.trials[0]
    anc = dataclasses.replace(
        result.criterion("anc"),
        reason=hostile,
        evidence=(Evidence("Observation/x", hostile, hostile, "2026-02-20"),),
    )
    criteria = tuple(anc if c.id == "anc" else c for c in result.criteria)
    report = build_report(
        dataclasses.replace(TRIAL, short_title=hostile),
        dataclasses.replace(result, criteria=criteria),
        screening,
        ENGINE.terminology,
    )
    page = (
        _environment()
        .get_template("report.html")
        .render(
            css="", report=report, trial=report["trial"], groups=grouped(report), registry_link=True
        )
    )
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&amp;amp;" in page
    assert page.startswith('<!doctype html>\n<html lang="en">')


def test_page_headers_forbid_scripts_caching_and_referrers() -> None:
    headers = _headers()
    assert headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'sha256-")
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_report_url_is_under_the_public_url() -> None:
    assert report_url("https://cds.example.org/", "t0k") == "https://cds.example.org/reports/t0k"
