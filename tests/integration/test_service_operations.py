"""Operating the service: production auth end to end, logs without patient data, feedback
that survives a hard kill and concurrent writers, and the PostgreSQL store."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from cds_hooks.feedback import PostgresFeedbackStore, StoreOptions, StoreUnavailable
from fixtures import generate as g
from tests.fhir_server.launcher import FhirServer
from tests.support.postgres import private_postgres
from tests.support.service import CALL_TIMEOUT_SECONDS, Service, start_service

pytestmark = pytest.mark.integration
PV = "trial-screening-patient-view"
PATIENTS = Path(__file__).resolve().parents[2] / "fixtures" / "patients"
PEOPLE = g.personas()


def body_for(persona: str, **kw: Any) -> dict[str, Any]:
    body = g.hook_request(PEOPLE[persona][0], "patient-view", **kw)
    body.pop("fhirServer")
    return body


# ----------------------------------------------------------------- production auth, end to end
class _Jwks(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def ehr_key() -> Iterator[tuple[ECKey, str]]:
    key = ECKey.generate_key("P-384", parameters={"kid": "ehr-1"})
    handler = type(
        "Handler", (_Jwks,), {"body": json.dumps(KeySet([key]).as_dict(private=False)).encode()}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


@pytest.fixture(scope="module")
def prod_service(
    tmp_path_factory: pytest.TempPathFactory, ehr_key: tuple[ECKey, str]
) -> Iterator[Service]:
    # Used once it listens (start_service); it fetches the JWKS from ehr_key's server on the
    # first authenticated call and waits for that answer.
    _, jwks_url = ehr_key
    issuers = {
        "https://ehr.example.org": {
            "jwks_url": jwks_url,
            "fhir_servers": ["https://fhir.example.org/r4"],
        }
    }
    svc = start_service(
        tmp_path_factory.mktemp("prod"),
        CDS_DEV_MODE="0",
        CDS_PUBLIC_URL="https://cds.example.org",
        CDS_TRUSTED_ISSUERS=json.dumps(issuers),
    )
    yield svc
    svc.stop()


def token(key: ECKey, aud: str, **claims: Any) -> str:
    # The service checks exp/iat against its own wall clock (another process: its time
    # cannot be frozen from here). exp is 300 s and the leeway 30 s away from anything a
    # test run could reach, so no test here races an edge.
    now = int(time.time())
    payload = {
        "iss": "https://ehr.example.org",
        "aud": aud,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    return jwt.encode(
        {"alg": "ES384", "kid": "ehr-1", "typ": "JWT"}, payload, key, algorithms=["ES384"]
    )


def test_production_mode_requires_a_valid_jwt(
    prod_service: Service, ehr_key: tuple[ECKey, str]
) -> None:
    key, _ = ehr_key
    aud = f"https://cds.example.org/cds-services/{PV}"
    body = body_for("likely_eligible")
    assert prod_service.hook(PV, body).status_code == 401
    wrong_aud = {"Authorization": f"Bearer {token(key, 'https://cds.example.org/other')}"}
    refused = prod_service.hook(PV, body, headers=wrong_aud)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    # The body says nothing about why: the reason is only in the log.
    assert refused.json()["issue"][0]["diagnostics"] == "unauthorized"
    good = {"Authorization": f"Bearer {token(key, aud)}"}
    assert prod_service.hook(PV, body, headers=good).status_code == 200
    # The same token again is a replay.
    assert prod_service.hook(PV, body, headers=good).status_code == 401
    discovery = prod_service.call(
        "GET",
        "/cds-services",
        headers={"Authorization": f"Bearer {token(key, 'https://cds.example.org/cds-services')}"},
    )
    assert discovery.status_code == 200
    # The refusal's reason is in the log (written just after the 401 went out: waits for it).
    prod_service.wait_for_log("unauthorized: claim invalid: aud")


def test_production_mode_refuses_unlisted_fhir_servers(
    prod_service: Service, ehr_key: tuple[ECKey, str]
) -> None:
    key, _ = ehr_key
    body = body_for("likely_eligible", prefetch=False)
    body["fhirServer"] = "http://169.254.169.254/latest"
    headers = {
        "Authorization": f"Bearer {token(key, f'https://cds.example.org/cds-services/{PV}')}"
    }
    response = prod_service.hook(PV, body, headers=headers)
    assert response.status_code == 412
    assert "fhirServer" in response.json()["issue"][0]["diagnostics"]


# ----------------------------------------------------------------- no patient data in logs
def _patient_strings() -> set[str]:
    secrets: set[str] = set()
    for bundle_path in PATIENTS.glob("*/bundle.json"):
        bundle = json.loads(bundle_path.read_text())
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] != "Patient":
                continue
            secrets.add(resource["birthDate"])
            for name in resource.get("name", []):
                secrets.update(name.get("given", []))
            secrets.update(i["value"] for i in resource.get("identifier", []))
    return secrets


def test_logs_hold_no_token_or_patient_data(tmp_path: Path, loaded_fhir_server: FhirServer) -> None:
    # The log is read after stop(), which waits for the exit: every line is written.
    svc = start_service(tmp_path)
    access_token = "secret-access-token-" + uuid.uuid4().hex
    try:
        for persona in sorted(PEOPLE):
            assert svc.hook(PV, body_for(persona)).status_code == 200
            fetched = body_for(persona, prefetch=False)
            fetched["fhirServer"] = loaded_fhir_server.base_url
            fetched["fhirAuthorization"] = {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "trial-cds",
            }
            assert svc.hook(PV, fetched).status_code == 200
        # Errors too: a schema violation quoting a name must not reach the log.
        bad = body_for("likely_eligible")
        bad["context"]["patientId"] = {"name": "Synthetic Likely Eligible"}
        assert svc.hook(PV, bad).status_code == 400
    finally:
        svc.stop()
    logs = svc.logs()
    assert logs.count('"hookInstance"') >= 2 * len(PEOPLE)  # the log is really being written
    assert access_token not in logs
    # Request timings are ours, not patient data: "ms": 1950.8 must not read as the birth
    # year 1950 of a patient with a year-only birth date.
    logs = re.sub(r'"ms": [0-9.]+', '"ms": 0', logs)
    for secret in _patient_strings():
        assert secret not in logs, f"{secret!r} found in the logs"
    assert "Synthetic" not in logs


# ----------------------------------------------------------------- durable feedback
def _feedback(card_uuid: str, ts: str, reason: str | None = "patient-declined") -> dict[str, Any]:
    item: dict[str, Any] = {"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": ts}
    if reason:
        item["overrideReason"] = {
            "reason": {
                "system": "http://trial-cds-hooks.org/fhir/CodeSystem/override-reason",
                "code": reason,
                "display": reason,
            }
        }
    return {"feedback": [item]}


def test_feedback_survives_a_hard_kill(tmp_path: Path) -> None:
    svc = start_service(tmp_path)
    body = body_for("likely_eligible")
    card = svc.hook(PV, body).json()["cards"][0]
    stored = svc.call(
        "POST", f"/cds-services/{PV}/feedback", _feedback(card["uuid"], "2026-03-02T10:00:00Z")
    )
    assert stored.json()["new"] == 1
    # SIGKILL, no shutdown hooks run; stop() waits for the process to be gone, so the
    # restart on the same SQLite file finds exactly what was committed before the answer.
    svc.stop(hard=True)
    svc = start_service(tmp_path)
    try:
        # Still suppressed after the restart, and a retry is still recognised.
        assert svc.hook(PV, body).json() == {"cards": []}
        retry = svc.call(
            "POST", f"/cds-services/{PV}/feedback", _feedback(card["uuid"], "2026-03-02T10:00:00Z")
        )
        assert retry.json()["new"] == 0
    finally:
        svc.stop()


def test_concurrent_feedback_loses_nothing(tmp_path: Path) -> None:
    svc = start_service(tmp_path)
    try:

        async def post_all() -> list[int]:
            async with httpx.AsyncClient(
                base_url=svc.base_url, timeout=CALL_TIMEOUT_SECONDS
            ) as client:
                responses = await asyncio.gather(
                    *(
                        client.post(
                            f"/cds-services/{PV}/feedback",
                            json=_feedback(
                                str(uuid.uuid4()), f"2026-03-02T10:00:{i:02d}Z", reason=None
                            ),
                        )
                        for i in range(60)
                    )
                )
                return [r.json()["new"] for r in responses]

        # Waits for all 60 answers (sent at once, so the writes overlap in the service).
        assert sum(asyncio.run(post_all())) == 60
    finally:
        svc.stop()  # waits for the exit: the store is closed before it is read below
    with sqlite3.connect(tmp_path / "feedback.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 60


# ----------------------------------------------------------------- PostgreSQL
@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with private_postgres("pg-operations") as url:
        yield url


def test_postgres_store_is_idempotent_and_suppresses(postgres_url: str) -> None:
    async def scenario() -> None:
        store = PostgresFeedbackStore(postgres_url)
        await store.open()
        other = PostgresFeedbackStore(postgres_url)  # a second replica
        await other.open()
        try:
            await store.record_cards([("card-1", "patient-key", "trial-x", "likely_eligible")])
            item = _feedback("card-1", "2026-03-02T10:00:00Z")["feedback"][0]
            assert await store.record_feedback("svc", [item]) == 1
            assert await other.record_feedback("svc", [item]) == 0  # retry on another replica
            # The 90-day window counts back from now to when the feedback was received (a
            # moment ago), so no run is near its edge; 0 days means no suppression at all.
            codes = ["already-screened", "patient-declined"]
            assert (
                await other.suppressed_status("patient-key", "trial-x", codes, 90)
                == "likely_eligible"
            )
            assert await other.suppressed_status("patient-key", "trial-y", codes, 90) is None
            assert await other.suppressed_status("patient-key", "trial-x", codes, 0) is None
        finally:
            await store.close()
            await other.close()

    asyncio.run(scenario())


async def _set_read_only(admin: Any, read_only: bool) -> None:
    """Make the database refuse (or take again) writes, for connections made from now
    on, and drop every other connection so the store's pool reconnects under it."""
    name = await admin.fetchval("SELECT current_database()")
    setting = (
        "SET default_transaction_read_only = on"
        if read_only
        else "RESET default_transaction_read_only"
    )
    await admin.execute(f'ALTER DATABASE "{name}" {setting}')
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )


def test_postgres_store_refuses_feedback_while_read_only_and_recovers(postgres_url: str) -> None:
    import asyncpg

    async def attempt(store: PostgresFeedbackStore, card: str) -> bool:
        item = _feedback(card, "2026-03-02T11:00:00Z")["feedback"][0]
        try:
            await store.record_feedback("svc-ro", [item])
        except StoreUnavailable:
            return False
        return True

    async def scenario() -> tuple[set[str], set[str], int, bool]:
        store = PostgresFeedbackStore(postgres_url, StoreOptions(write_timeout=2.0))
        await store.open()
        admin = await asyncpg.connect(postgres_url)
        acknowledged: set[str] = set()
        refused: set[str] = set()
        try:
            await _set_read_only(admin, True)
            for _ in range(5):
                card = f"ro-during-{uuid.uuid4()}"
                (acknowledged if await attempt(store, card) else refused).add(card)
            # The hook's side neither raises nor waits for the database.
            codes = ["patient-declined"]
            assert await store.suppressed_status("pk", "trial-x", codes, 90) is None
            await store.record_cards([("ro-card", "pk", "trial-x", "likely_eligible")])
            await store.flush()
            pending = store.health.cards_pending
            with pytest.raises(StoreUnavailable):
                await store.probe()
            await _set_read_only(admin, False)
            recovered = False
            for _ in range(5):  # the first use of a dropped connection may fail too
                card = f"ro-after-{uuid.uuid4()}"
                ok = await attempt(store, card)
                (acknowledged if ok else refused).add(card)
                if ok:
                    recovered = True
                    break
            await store.flush()
            stored = {
                r[0]
                for r in await admin.fetch(
                    "SELECT card_uuid FROM feedback WHERE service_id = 'svc-ro'"
                )
            }
            written = await admin.fetchval(
                "SELECT COUNT(*) FROM issued_card WHERE card_uuid = 'ro-card'"
            )
        finally:
            await admin.close()
            await store.close()
        assert stored == acknowledged
        assert written == 1  # the queued card reached the database after recovery
        return acknowledged, refused, pending, recovered

    acknowledged, refused, pending, recovered = asyncio.run(scenario())
    assert {c for c in refused if c.startswith("ro-during-")} == {
        c for c in refused | acknowledged if c.startswith("ro-during-")
    }
    assert pending == 1
    assert recovered


def test_postgres_store_keeps_text_with_nul(postgres_url: str) -> None:
    async def scenario() -> int:
        store = PostgresFeedbackStore(postgres_url)
        await store.open()
        try:
            item = _feedback("card-with-\x00-nul", "2026-03-02T12:00:00Z")["feedback"][0]
            return await store.record_feedback("svc-nul", [item])
        finally:
            await store.close()

    assert asyncio.run(scenario()) == 1


def test_service_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    svc = start_service(tmp_path, DATABASE_URL=postgres_url)
    try:
        body = body_for("postmenopausal_pmmr_text_distance")
        card = svc.hook(PV, body).json()["cards"][0]
        assert (
            svc.call(
                "POST",
                f"/cds-services/{PV}/feedback",
                _feedback(card["uuid"], "2026-03-02T11:00:00Z", "already-screened"),
            ).json()["new"]
            == 1
        )
        assert svc.hook(PV, body).json() == {"cards": []}
    finally:
        svc.stop()
