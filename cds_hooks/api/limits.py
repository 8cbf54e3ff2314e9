"""Request limits, as pure ASGI middlewares.

`BodyDeadline`: uvicorn times out idle keep-alive connections but not a request whose body
trickles in or stops: each such request would hold a connection, a concurrency slot and
its buffered bytes forever. Here the whole body must arrive within `seconds` of the
request start; otherwise the request is answered 408 (OperationOutcome) and the connection
closed.

`InFlightLimit`: at most `limit` requests in progress per worker; beyond, 503 at once
with an OperationOutcome and Retry-After, which an EHR can read and log (uvicorn's own
limit, kept above it as a backstop for connections, answers plain text). The health
probes are never refused: an overloaded worker is busy, not dead.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_hooks.api.errors import outcome_response
from cds_hooks.api.middleware import log_fields


class InFlightLimit:
    def __init__(self, app: ASGIApp, limit: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            log_fields(Request(scope))["error"] = "busy: concurrency limit"
            response = outcome_response(
                503,
                f"busy: {self.limit} requests in progress; retry shortly",
                {"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class BodyTimeout(Exception):
    """The request body did not arrive in time."""


class BodyDeadline:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_done = False
        response_started = False

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done:  # waiting for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_and_watch(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_and_watch)
        except BodyTimeout:
            if response_started:
                return
            fields = log_fields(Request(scope))
            fields["error"] = "request body timeout"
            response = outcome_response(
                408,
                f"request body not received within {self.seconds:g} s",
                {"Connection": "close"},
            )
            await response(scope, receive, send)
