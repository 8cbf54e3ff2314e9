"""`GET /reports/{token}`: the screening report page a card links to, rendered here.

Server-side HTML from Jinja2 templates with autoescaping on: every text in a report came
from patient data or a trial definition and is escaped. No script runs on the page; the
Content-Security-Policy allows only the page's own stylesheet (by hash). The token is a
bearer credential, so the page is never cached, never sent on as a Referer, and never
logged (the request log records the route template, `/reports/{token}`). An unknown or
malformed token is a bare 404, an expired one 410.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from cds_hooks.api.middleware import log_fields
from cds_hooks.report import grouped
from cds_hooks.report_store import ReportExpired
from cds_hooks.state import AppState

router = APIRouter()
log = logging.getLogger("trial_cds.reports")


@cache
def _css() -> str:
    return files("cds_hooks").joinpath("templates/report.css").read_text(encoding="utf-8")


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("cds_hooks", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _headers() -> dict[str, str]:
    digest = base64.b64encode(hashlib.sha256(_css().encode("utf-8")).digest()).decode()
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
        ),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Robots-Tag": "noindex, nofollow",
    }


def _page(template: str, status: int, **values: Any) -> HTMLResponse:
    html = _environment().get_template(template).render(css=_css(), **values)
    return HTMLResponse(html, status_code=status, headers=_headers())


@router.get("/reports/{token}", response_class=HTMLResponse, include_in_schema=False)
async def report_page(token: str, request: Request) -> HTMLResponse:
    state: AppState = request.app.state.cds
    fields = log_fields(request)
    try:
        report = await state.reports.get(token)
    except ReportExpired:
        fields["error"] = "report expired"
        return _page(
            "message.html",
            410,
            heading="This screening report has expired",
            message="Open the patient's chart again for a current screening.",
        )
    except Exception as exc:  # the database is down: say so, without detail
        fields["error"] = f"report store unavailable ({type(exc).__name__})"
        return _page(
            "message.html",
            503,
            heading="Screening report unavailable",
            message="The report cannot be read right now. Try again in a few minutes.",
        )
    if report is None:
        return _page(
            "message.html", 404, heading="Not found", message="There is no page at this address."
        )
    trial = report["trial"]
    return _page(
        "report.html",
        200,
        report=report,
        trial=trial,
        groups=grouped(report),
        registry_link=str(trial.get("url", "")).startswith(("https://", "http://")),
    )
