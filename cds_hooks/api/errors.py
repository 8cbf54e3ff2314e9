"""Errors as FHIR OperationOutcome bodies; never a stack trace on the wire."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("trial_cds.errors")

_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    412: "incomplete",
    413: "too-costly",
    500: "exception",
}


class HookError(Exception):
    """An error with an HTTP status and a message safe to show the caller."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def outcome_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": _ISSUE_CODES.get(status, "processing"),
                "diagnostics": message,
            }
        ],
    }
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/fhir+json"
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(HookError)
    async def hook_error(_: Request, exc: HookError) -> Response:
        return outcome_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: "no such CDS service or endpoint", 405: "method not allowed"}
        return outcome_response(
            exc.status_code,
            messages.get(exc.status_code, str(exc.detail)),
            dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = "/".join(str(p) for p in first.get("loc", ()))
        return outcome_response(400, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        # Type only: the exception text may quote patient data.
        log.error("unhandled %s", type(exc).__name__)
        return outcome_response(500, "internal error")
