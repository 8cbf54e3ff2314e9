"""The report link through the real service (uvicorn, real SQLite): token, headers, expiry,
logs, several trials on one patient, and a report store that cannot write."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_hooks.report_store import make_report_store
from tests.support.service import start_service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PV = "trial-screening-patient-view"
POSSIBLY = json.loads(
    (ROOT / "fixtures" / "cds_requests" / "patient-view-possibly-eligible.json").read_text()
)
LIKELY = json.loads(
    (ROOT / "fixtures" / "cds_requests" / "patient-view-likely-eligible.json").read_text()
)
TRIAL = json.loads(
    (
        ROOT / "cds_hooks" / "trials" / "definitions" / "scrt-capeox-serplulimab-rectal.json"
    ).read_text()
)
PATIENT_ID = POSSIBLY["context"]["patientId"]


def _report_link(card: dict[str, Any]) -> str:
    (url,) = [x["url"] for x in card.get("links", []) if "/reports/" in x["url"]]
    return str(url)


def test_the_card_links_to_its_report_and_nothing_identifies_the_patient(
    tmp_path: Path,
) -> None:
    svc = start_service(tmp_path)
    try:
        (card,) = svc.hook(PV, POSSIBLY).json()["cards"]
        url = _report_link(card)
        token = url.rsplit("/", 1)[1]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 256 random bits, URL-safe
        assert url == f"{svc.base_url}/reports/{token}"
        assert PATIENT_ID not in url
        assert f"]({url})" in card["detail"]

        page = httpx.get(url)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "<script" not in page.text
        assert PATIENT_ID not in page.text.replace(f"{PATIENT_ID}-", "")  # resource ids only

        # A second hook call is a second screening: its own report, its own token.
        (again,) = svc.hook(PV, POSSIBLY).json()["cards"]
        assert _report_link(again) != url
        assert httpx.get(url).status_code == 200
    finally:
        svc.stop()
    logs = svc.logs()
    assert token not in logs
    assert PATIENT_ID not in logs
    assert '"path": "/reports/{token}", "status": 200' in logs


def test_tampered_unknown_and_malformed_tokens_are_a_bare_404(tmp_path: Path) -> None:
    svc = start_service(tmp_path)
    try:
        (card,) = svc.hook(PV, POSSIBLY).json()["cards"]
        url = _report_link(card)
        token = url.rsplit("/", 1)[1]
        flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
        bodies = set()
        for bad in (flipped, token[:-1], token + "A", "x" * 400, "%3Cscript%3E", "A" * 43):
            response = httpx.get(f"{svc.base_url}/reports/{bad}")
            assert response.status_code == 404, bad
            assert bad not in response.text
            bodies.add(response.text)
        assert len(bodies) == 1  # the same answer whatever was wrong: no detail
        assert httpx.get(url).status_code == 200
    finally:
        svc.stop()


def test_a_report_expires_after_the_ttl_then_is_gone_and_purged(tmp_path: Path) -> None:
    svc = start_service(tmp_path, CDS_REPORT_TTL_SECONDS="120")
    database = tmp_path / "feedback.sqlite3"
    try:
        first = _report_link(svc.hook(PV, POSSIBLY).json()["cards"][0])
        second = _report_link(svc.hook(PV, POSSIBLY).json()["cards"][0])
        with sqlite3.connect(database) as db:
            spans = db.execute("SELECT expires_at - created_at FROM screening_report").fetchall()
        assert spans == [(120.0,), (120.0,)]

        # The service's clock is real; the stored expiry is moved instead of waiting.
        with sqlite3.connect(database) as db:
            db.execute("UPDATE screening_report SET expires_at = created_at")
        expired = httpx.get(first)
        assert expired.status_code == 410
        assert "expired" in expired.text
        assert httpx.get(first).status_code == 404  # deleted when found expired

        # A purge from another process (another replica's clock, 2 minutes on).
        async def purge() -> int:
            later = datetime.now(UTC) + timedelta(seconds=121)
            store = make_report_store(f"sqlite:///{database}", 120, lambda: later)
            await store.open()
            try:
                return await store.purge()
            finally:
                await store.close()

        assert asyncio.run(purge()) == 1
        assert httpx.get(second).status_code == 404
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT COUNT(*) FROM screening_report").fetchone() == (0,)
    finally:
        svc.stop()


def test_when_the_report_cannot_be_stored_the_card_goes_out_without_a_link(
    tmp_path: Path,
) -> None:
    database = tmp_path / "feedback.sqlite3"
    with sqlite3.connect(database) as db:  # a real SQLite that refuses the write
        db.execute(
            "CREATE TABLE screening_report (token_hash TEXT PRIMARY KEY, payload TEXT NOT NULL,"
            " created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL)"
        )
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON screening_report "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    svc = start_service(tmp_path)
    try:
        response = svc.hook(PV, POSSIBLY)
        assert response.status_code == 200
        (card,) = response.json()["cards"]
        assert all("/reports/" not in link["url"] for link in card["links"])
        assert "/reports/" not in card["detail"]
        assert card["detail"].splitlines()[-1].endswith("criteria met")
    finally:
        svc.stop()
    logs = svc.logs()
    assert "screening report not stored (IntegrityError)" in logs
    assert '"error": "screening report not stored"' in logs
    assert "disk says no" not in logs


def _trial(trial_id: str, registry: str, status: str = "recruiting") -> dict[str, Any]:
    return {
        **TRIAL,
        "id": trial_id,
        "short_title": f"Trial {registry}",
        "registry": {**TRIAL["registry"], "id": registry, "status": status},
    }


def test_several_trials_one_card_each_best_first_capped_and_only_recruiting(
    tmp_path: Path,
) -> None:
    trials = tmp_path / "trials"
    trials.mkdir()
    for definition in (
        _trial("b-trial", "NCT00000002"),
        _trial("a-trial", "NCT00000003"),
        _trial("c-trial", "NCT00000001"),
        _trial("closed-trial", "NCT00000000", status="completed"),
    ):
        (trials / f"{definition['id']}.json").write_text(json.dumps(definition))
    svc = start_service(tmp_path, CDS_TRIALS_DIR=str(trials), CDS_MAX_CARDS="2")
    try:
        cards = svc.hook(PV, LIKELY).json()["cards"]
        # Same results for the three recruiting copies: the registry id decides; at most 2;
        # the completed trial never shows.
        assert [c["source"]["topic"]["code"] for c in cards] == ["NCT00000001", "NCT00000002"]
        assert len({_report_link(c) for c in cards}) == 2
    finally:
        svc.stop()
    with sqlite3.connect(tmp_path / "feedback.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM screening_report").fetchone() == (2,)
