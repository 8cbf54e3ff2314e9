"""Feedback drives suppression, over real HTTP: only "patient declined" / "already
screened" silence a card, only for that patient and trial, and only while the patient's
screening status is unchanged. Every response body is validated against the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fixtures import generate as g
from tests.support.service import Service, start_service

pytestmark = pytest.mark.integration
PV = "trial-screening-patient-view"
SIGN = "trial-screening-order-sign"
FEEDBACK = f"/cds-services/{PV}/feedback"


@pytest.fixture
def service(tmp_path: Any) -> Iterator[Service]:
    # A fresh feedback store per test; used once it listens (start_service), stopped (and
    # waited for) after. Each POST's answer comes after the feedback is committed, so the
    # next hook call sees it. The 90-day suppression window counts from the receipt a
    # moment earlier: no test is near its edge.
    svc = start_service(tmp_path)
    yield svc
    svc.stop()


def body(hook: str = "patient-view", **kw: Any) -> dict[str, Any]:
    request = g.hook_request(g.personas()["likely_eligible"][0], hook, **kw)
    request.pop("fhirServer")
    return request


def one_card(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    result: dict[str, Any] = card
    return result


def overridden(card: dict[str, Any], reason: str) -> dict[str, Any]:
    coding = next(r for r in card["overrideReasons"] if r["code"] == reason)
    return {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-03-02T10:00:00Z",
                "overrideReason": {"reason": coding, "userComment": "free text is not stored"},
            }
        ]
    }


def test_declined_card_returns_when_the_status_changes(service: Service) -> None:
    card = one_card(service.hook(PV, body()))
    assert card["summary"].startswith("May be eligible")
    assert service.call("POST", FEEDBACK, overridden(card, "patient-declined")).status_code == 200
    assert service.hook(PV, body()).json() == {"cards": []}
    # Suppressed on the order hooks too: the patient said no to this trial.
    signing = body("order-sign", draft_orders=[g.CAPECITABINE_ORDER])
    assert service.hook(SIGN, signing).json() == {"cards": []}
    # Without labs the same patient is only possibly eligible: a different status, so
    # the card is shown again.
    changed = body()
    for key in [k for k in changed["prefetch"] if k.startswith("observations")]:
        changed["prefetch"][key] = None
    assert one_card(service.hook(PV, changed))["summary"].startswith("Possibly eligible")


@pytest.mark.parametrize("reason", ["not-a-candidate", "other"])
def test_other_override_reasons_do_not_silence(service: Service, reason: str) -> None:
    card = one_card(service.hook(PV, body()))
    assert service.call("POST", FEEDBACK, overridden(card, reason)).json()["new"] == 1
    assert one_card(service.hook(PV, body()))["uuid"] != card["uuid"]


def test_accepted_referral_does_not_silence(service: Service) -> None:
    card = one_card(service.hook(PV, body()))
    accepted = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": "2026-03-02T10:00:00Z",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
            }
        ]
    }
    response = service.call("POST", FEEDBACK, accepted)
    assert response.json() == {"received": 1, "new": 1}
    assert one_card(service.hook(PV, body()))


def test_already_screened_is_per_patient_and_fhir_server(service: Service) -> None:
    card = one_card(service.hook(PV, body()))
    service.call("POST", FEEDBACK, overridden(card, "already-screened"))
    assert service.hook(PV, body()).json() == {"cards": []}
    # The same patient id on another EHR's FHIR server is another patient.
    elsewhere = body()
    elsewhere["fhirServer"] = "https://other-ehr.example.org/fhir"
    assert one_card(service.hook(PV, elsewhere))


def test_feedback_for_unknown_service_is_404(service: Service) -> None:
    card = one_card(service.hook(PV, body()))
    response = service.call(
        "POST", "/cds-services/no-such/feedback", overridden(card, "patient-declined")
    )
    assert response.status_code == 404
    assert one_card(service.hook(PV, body()))  # nothing was stored
