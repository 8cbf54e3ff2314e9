"""Request log and last-resort error handling, as one pure ASGI middleware.

Every HTTP request, whatever its outcome (200, 4xx from routing or validation, 500), leaves
exactly one JSON log line: method, route template, status, time, and the allowlisted fields
the route adds (`log_fields(request)`). An unexpected exception becomes a 500
OperationOutcome here and is logged by type only: Starlette's own error middleware would
re-raise it to the server, which prints the traceback, and exception texts can quote
patient data.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_hooks import logs

log = logging.getLogger("trial_cds.errors")
_FIELDS = "trial_cds_log"
# Built here rather than by api.errors (which imports this module for log_fields).
_INTERNAL_ERROR = (
    b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception",'
    b'"diagnostics":"internal error"}]}'
)


def log_fields(request: Request) -> dict[str, Any]:
    """The fields of this request's log line; routes and error handlers add to it."""
    state = request.scope.setdefault("state", {})
    fields: dict[str, Any] = state.setdefault(_FIELDS, {})
    return fields


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        fields: dict[str, Any] = {}
        scope.setdefault("state", {})[_FIELDS] = fields
        status = 500
        response_started = False

        async def send_and_watch(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception as exc:
            # Type only: the message may quote patient data.
            log.error("unhandled %s", type(exc).__name__)
            fields["error"] = f"unhandled {type(exc).__name__}"
            status = 500
            if not response_started:
                response = Response(_INTERNAL_ERROR, 500, media_type="application/fhir+json")
                await response(scope, receive, send)
        finally:
            route = scope.get("route")
            logs.access(
                method=scope.get("method"),
                # The route template, not the raw path: a path is caller-chosen text.
                path=getattr(route, "path", None) or "(no route)",
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
                **fields,
            )
