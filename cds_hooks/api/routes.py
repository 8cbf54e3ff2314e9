"""CDS Hooks endpoints: discovery, service calls, feedback (CDS Hooks 2.0 §Discovery,
§Calling a CDS Service, §Feedback)."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cds_hooks import screening
from cds_hooks.api.errors import HookError
from cds_hooks.api.middleware import log_fields
from cds_hooks.api.openapi import (
    DISCOVERY_RESPONSES,
    FEEDBACK_OPENAPI,
    FEEDBACK_RESPONSES,
    HOOK_OPENAPI,
    HOOK_RESPONSES,
)
from cds_hooks.api.wire import first_error, json_too_deep
from cds_hooks.auth import AuthError, audience
from cds_hooks.outbound import OutboundError, check_fhir_server
from cds_hooks.prefetch import DataUnavailable, PrefetchTooLarge
from cds_hooks.screening import hook
from cds_hooks.services import Service
from cds_hooks.state import AppState
from fhir_mappings.client import FhirClient

router = APIRouter()
_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="cds-services"'}


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.cds
    return state


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _service(state: AppState, service_id: str) -> Service:
    service = state.services.get(service_id)
    if service is None:
        raise HookError(404, f"no CDS service with id {service_id!r}")
    return service


async def _authenticate(request: Request, state: AppState, audience: str) -> str | None:
    """The verified issuer, or None in dev mode."""
    if state.settings.dev_mode:
        return None
    try:
        claims = await state.authenticator.verify(request.headers.get("authorization"), audience)
    except AuthError as exc:
        # The reason goes to the log only; the caller learns nothing about why.
        log_fields(request)["error"] = f"unauthorized: {exc.reason}"
        raise HookError(401, "unauthorized", _UNAUTHORIZED) from exc
    return claims.iss


async def _body(request: Request, state: AppState) -> Any:
    limit = state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HookError(413, f"request body larger than {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HookError(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HookError(400, f"request body is not valid JSON: {exc.msg}") from exc
    if json_too_deep(raw, state.settings.max_json_depth):
        raise HookError(400, f"JSON nested deeper than {state.settings.max_json_depth} levels")
    return body


_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


@router.get("/cds-services", responses=DISCOVERY_RESPONSES)
async def discovery(request: Request) -> Response:
    state = _state(request)
    # CDS Hooks 2.0 §Trusting CDS Clients: discovery calls carry the JWT too.
    await _authenticate(request, state, audience(state.settings))
    return _json({"services": [s.discovery() for s in state.services.values()]})


def _check_request(service: Service, body: Any) -> None:
    error = first_error(body, "hookRequestByHook")
    if error is not None:
        raise HookError(400, f"invalid hook request: {error}")
    if body["hook"] != service.hook:
        raise HookError(
            400, f"/hook: service {service.id!r} answers {service.hook!r}, not {body['hook']!r}"
        )
    context = body["context"]
    if service.hook == "order-select":
        ids = {
            f"{e['resource'].get('resourceType')}/{e['resource'].get('id')}"
            for e in context["draftOrders"].get("entry", [])
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        }
        unknown = [s for s in context["selections"] if s not in ids]
        if unknown:
            raise HookError(400, f"/context/selections: {unknown[0]!r} is not in draftOrders")


def _fhir_client(state: AppState, body: dict[str, Any], issuer: str | None) -> FhirClient | None:
    server = body.get("fhirServer")
    if not server:
        return None
    settings = state.settings
    trusted = state.issuers.get(issuer) if issuer else None
    base = check_fhir_server(server, issuer=trusted, settings=settings)
    token = (body.get("fhirAuthorization") or {}).get("access_token")
    return FhirClient(
        state.http,
        base,
        token,
        timeout=settings.fhir_timeout_seconds,
        max_pages=settings.fhir_max_pages,
        page_size=settings.fhir_page_size,
        max_response_bytes=settings.fhir_max_response_bytes,
        max_call_bytes=settings.fhir_max_call_bytes,
    )


@router.post("/cds-services/{service_id}", openapi_extra=HOOK_OPENAPI, responses=HOOK_RESPONSES)
async def call_service(service_id: str, request: Request) -> Response:
    state = _state(request)
    fields = log_fields(request)
    service = _service(state, service_id)
    fields.update(service=service.id, hook=service.hook)
    issuer = await _authenticate(request, state, audience(state.settings, service.id))
    body = await _body(request, state)
    instance = body.get("hookInstance") if isinstance(body, dict) else None
    if isinstance(instance, str) and _UUID.fullmatch(instance):  # only a UUID is logged
        fields["hookInstance"] = instance
    _check_request(service, body)
    try:
        fhir = _fhir_client(state, body, issuer)
        outbound_refused: str | None = None
    except OutboundError as exc:
        fhir, outbound_refused = None, exc.message
    try:
        answer = await hook.run_hook(state, service, body, fhir, fields)
    except DataUnavailable as exc:
        message = str(exc) + (f" ({outbound_refused})" if outbound_refused else "")
        raise HookError(412, message) from exc
    except PrefetchTooLarge as exc:
        raise HookError(413, str(exc)) from exc
    except screening.UnusableRecord as exc:
        raise HookError(412, str(exc)) from exc
    return _json({"cards": answer.cards})


@router.post(
    "/cds-services/{service_id}/feedback",
    openapi_extra=FEEDBACK_OPENAPI,
    responses=FEEDBACK_RESPONSES,
)
async def feedback(service_id: str, request: Request) -> Response:
    state = _state(request)
    service = _service(state, service_id)
    fields = log_fields(request)
    fields["service"] = service.id
    await _authenticate(request, state, audience(state.settings, service_id) + "/feedback")
    body = await _body(request, state)
    error = first_error(body, "feedbackRequest")
    if error is not None:
        raise HookError(400, f"invalid feedback: {error}")
    new = await state.store.record_feedback(service.id, body["feedback"])
    fields["feedback"] = len(body["feedback"])
    return _json({"received": len(body["feedback"]), "new": new})
