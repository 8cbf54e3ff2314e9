"""The card and the screening report as a person sees them, in a real headless Chromium.

The real service (uvicorn) answers a possibly-eligible hook request; the card's Markdown is
rendered by a CommonMark renderer with raw HTML enabled (the least forgiving an EHR could
be), the card's link is clicked, and the page is read: its text, table rows, the print
view and phone width. Screenshots are written to artifacts/ (git-ignored).

What the tests wait for: `start_service` returns once uvicorn reports it serves; every
page load (`goto`, `set_content`) returns once the page's load event fired (Playwright's
default), and the report page runs no scripts, so what it shows is final by then. No test
sleeps or depends on how fast the machine is.
"""

from __future__ import annotations

import copy
import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import artifact, chromium
from tests.support.service import Service, start_service

# No skip when Chromium is missing: scripts/install installs it, and a skipped browser test
# would hide a broken install step.
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PV = "trial-screening-patient-view"
POSSIBLY = json.loads(
    (ROOT / "fixtures" / "cds_requests" / "patient-view-possibly-eligible.json").read_text()
)
HOSTILE = (
    "<script>alert(1)</script><img src=x onerror=alert(2)> *em* _em_ "
    "[link](javascript:alert(3)) &amp; `code` | a \"quote' #h"
)
NAME = "Robert'); DROP TABLE <b>students</b>;--"
CRITERIA = 23  # criteria of the packaged trial


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = start_service(tmp_path_factory.mktemp("report-browser"))
    yield svc
    svc.stop()


def card_page(card: dict[str, Any]) -> str:
    """The card as an EHR draws it: summary, Markdown detail, links."""
    from markdown_it import MarkdownIt

    detail = MarkdownIt("commonmark").render(card["detail"])  # raw HTML on: worst case
    links = "".join(
        f'<li><a class="card-link" href="{html.escape(link["url"])}">'
        f"{html.escape(link['label'])}</a></li>"
        for link in card.get("links", [])
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<style>body{{font:15px system-ui,sans-serif;margin:1rem;max-width:46rem}}
.card{{border:1px solid #bbb;border-left:6px solid #2a6ebb;border-radius:4px;padding:.6rem 1rem}}
h2{{font-size:1.05rem;margin:.2rem 0 .5rem}} ul{{margin:.2rem 0}}</style></head>
<body><div class="card" id="card"><h2 id="summary">{html.escape(card["summary"])}</h2>
<div id="detail">{detail}</div><ul id="links">{links}</ul></div></body></html>"""


def _hook(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    response = service.hook(PV, body)
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    return dict(card)


def _no_dialogs(page: Any) -> list[str]:
    opened: list[str] = []

    def on_dialog(dialog: Any) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return opened


def test_card_link_opens_the_report_a_clinician_reads(service: Service, tmp_path: Path) -> None:
    card = _hook(service, POSSIBLY)
    report = card["links"][0]
    assert report["type"] == "absolute"
    assert report["url"].startswith(service.base_url + "/reports/")
    assert POSSIBLY["context"]["patientId"] not in report["url"]
    with chromium(tmp_path / "profile", viewport={"width": 1280, "height": 900}) as browser:
        page = browser.new_page()
        page.set_content(card_page(card))
        assert page.inner_text("#summary").startswith("Possibly eligible for trial")
        lines = [x for x in page.inner_text("#detail").splitlines() if x.strip()]
        assert len(lines) <= 12
        assert lines[0] == "Missing or not usable"  # what decides comes first
        assert any("needed by 2026-03-18" in x for x in lines)
        assert "19 of 23 criteria met" in lines
        page.locator("#card").screenshot(path=str(artifact("card-possibly-eligible.png")))

        with page.expect_navigation():
            page.get_by_role("link", name="Open the screening report").click()
        assert page.url == report["url"]
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").inner_text() == "SCRT→CAPEOX+serplulimab, MSS rectal ca"
        registry = page.locator("#registry-link")
        assert registry.get_attribute("href") == "https://clinicaltrials.gov/study/NCT06850103"
        assert registry.inner_text() == "NCT06850103"
        assert page.locator("#screening-date").inner_text() == "2026-03-02"
        assert page.locator("#trial-status").inner_text() == (
            "Possibly eligible: 19 of 23 criteria met"
        )
        headings = page.locator("h2").all_inner_texts()
        assert headings == ["Still to check (4)", "Satisfied (19)"]
        header = page.locator("#group-open thead th").all_inner_texts()
        assert header == [
            "Criterion",
            "Role",
            "Status",
            "Value",
            "Date",
            "Source",
            "Reason",
            "Registry text",
        ]
        assert page.locator("tbody tr").count() == CRITERIA
        histology = page.locator("#criterion-rectal_adenocarcinoma")
        assert histology.locator("xpath=ancestor::table").get_attribute("id") == "group-open"
        cells = histology.locator("td").all_inner_texts()
        assert cells[:5] == [
            "inclusion",
            "unknown",
            "Malignant neoplasm of rectum",
            "2026-01-21",
            "Condition/c20-no-histology-cond22",
        ]
        assert "without histology" in cells[5]
        assert cells[6] == "Histologically confirmed primary rectal adenocarcinoma"
        anc = page.locator("#criterion-anc td").all_inner_texts()
        assert anc[1].startswith("met")
        assert anc[2:4] == ["3.2 ×10⁹/L", "2026-02-20"]
        assert "×10⁹/L" in anc[5]
        assert "10*9" not in page.inner_text("body")
        inr = page.locator("#criterion-inr td").all_inner_texts()
        assert inr[2] == "1"  # INR carries no unit
        age = page.locator("#criterion-age td").all_inner_texts()
        assert age[4] == "Patient"  # the patient's id is not on the page
        page.screenshot(path=str(artifact("report-desktop.png")), full_page=True)

        page.emulate_media(media="print")
        after = page.evaluate(
            "getComputedStyle(document.querySelector('#registry-link'), '::after').content"
        )
        assert "https://clinicaltrials.gov/study/NCT06850103" in after
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.status-open')).color")
            == "rgb(0, 0, 0)"
        )
        page.screenshot(path=str(artifact("report-print.png")), full_page=True)
        page.pdf(path=str(artifact("report.pdf")))
        page.emulate_media(media="screen")

        page.set_viewport_size({"width": 375, "height": 812})
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert page.locator("#group-open thead").bounding_box()["height"] <= 1  # type: ignore[index]
        label = page.evaluate(
            "getComputedStyle(document.querySelector('#criterion-anc td'), '::before').content"
        )
        assert label == '"Role: "'
        page.screenshot(path=str(artifact("report-phone.png")))  # the first screen
        page.screenshot(path=str(artifact("report-phone-full.png")), full_page=True)


def _hostile_request() -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(POSSIBLY)
    body["prefetch"]["patient"]["name"] = [{"family": NAME, "given": [NAME]}]
    for entry in body["prefetch"]["conditions"]["entry"]:
        resource = entry["resource"]
        if resource["id"] == "c20-no-histology-cond22":
            resource["code"]["text"] = HOSTILE
            for coding in resource["code"]["coding"]:
                coding["display"] = HOSTILE
    for entry in body["prefetch"]["observations"]["entry"]:
        resource = entry["resource"]
        if resource["id"] == "c20-no-histology-obs19":  # INR: a unit nobody knows
            resource["valueQuantity"] = {"value": 1.1, "unit": HOSTILE}
    return body


def test_hostile_names_codes_and_display_texts_stay_text(service: Service, tmp_path: Path) -> None:
    card = _hook(service, _hostile_request())
    assert HOSTILE not in json.dumps(card["detail"])  # only escaped forms reach the card
    assert "DROP TABLE" not in json.dumps(card)
    with chromium(tmp_path / "profile") as browser:
        page = browser.new_page()
        dialogs = _no_dialogs(page)
        page.set_content(card_page(card))
        detail = page.locator("#detail")
        for element in ("script", "img", "em", "code", "a[href^='javascript']", "h1"):
            assert detail.locator(element).count() == 0, element
        assert "<script>alert(1)</script><img src=x onerror=alert(2)>" in detail.inner_text()
        # (The card shows a reason's first clause: it ends at the "; " of "&amp;".)
        assert "*em* _em_ [link](javascript:alert(3)) &amp —" in detail.inner_text()
        page.locator("#card").screenshot(path=str(artifact("card-hostile.png")))

        page.goto(card["links"][0]["url"])
        body = page.locator("body")
        for element in ("script", "img", "em", "code"):
            assert body.locator(element).count() == 0, element
        assert page.locator("a").count() == 1  # the registry link, nothing injected
        text = body.inner_text()
        assert HOSTILE.replace("  ", " ") in text or HOSTILE in text
        inr = page.locator("#criterion-inr td").all_inner_texts()
        assert inr[1] == "unknown"  # a unit we cannot read is never a number
        assert "<script>alert(1)</script>" in inr[5]
        assert "DROP TABLE" not in text  # the patient is not named on the page
        page.screenshot(path=str(artifact("report-hostile.png")), full_page=True)
        assert dialogs == []
