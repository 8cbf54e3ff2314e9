"""Errors as FHIR OperationOutcome bodies; never a stack trace on the wire.

Unexpected exceptions are turned into a 500 by api.middleware.RequestLog, which also
writes the one log line per request; the handlers here add what of an error may be logged.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cds_hooks.api.middleware import log_fields

_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    408: "timeout",
    412: "incomplete",
    413: "too-costly",
    500: "exception",
    503: "transient",
}


class HookError(Exception):
    """An error with an HTTP status and a message safe to show the caller."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


_JSON_PATH = re.compile(r"(?:^|\s)(/[\w/.$-]*)")


def loggable(status: int, message: str) -> str:
    """What of an error may be logged: the JSON path of a 400, else the status. A schema
    message can quote the offending value, which may be patient data."""
    if status == 400:
        match = _JSON_PATH.search(message)
        return f"invalid request at {match.group(1)}" if match else "invalid request"
    return str(status)


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
    async def hook_error(request: Request, exc: HookError) -> Response:
        log_fields(request).setdefault("error", loggable(exc.status, exc.message))
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
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # The routes read their bodies themselves, so this only fires for a path parameter
        # FastAPI could not convert; it answers 400 as every other bad input, never 422.
        first = exc.errors()[0] if exc.errors() else {}
        where = "/" + "/".join(str(p) for p in first.get("loc", ()))
        log_fields(request)["error"] = f"invalid request at {where}"
        return outcome_response(400, f"{where}: {first.get('msg', 'invalid request')}")
