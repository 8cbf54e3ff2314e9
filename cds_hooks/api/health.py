"""`GET /healthz` (the process answers) and `GET /readyz` (it can do its job), for load
balancers and Kubernetes probes. Neither needs a token, and neither says anything about a
patient: checks, reasons and counters only."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cds_hooks.feedback import StoreUnavailable
from cds_hooks.state import AppState

log = logging.getLogger("trial_cds.health")
router = APIRouter()
# A probe that waits longer than this is as good as a failed one.
PROBE_SECONDS = 2.0

_CHECK = {
    "type": "object",
    "required": ["ok"],
    "properties": {"ok": {"type": "boolean"}, "reason": {"type": "string"}},
}
READY = {
    "type": "object",
    "required": ["status", "checks", "store"],
    "properties": {
        "status": {"enum": ["ready", "not ready"]},
        "checks": {"type": "object", "additionalProperties": _CHECK},
        "store": {"type": "object"},
    },
}
HEALTHZ_RESPONSES: dict[int | str, dict[str, Any]] = {
    "200": {
        "description": "The process is up",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
READYZ_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"schema": READY}}}
    for code, text in (
        ("200", "Ready: database writable, trials loaded, configuration usable"),
        ("503", "Not ready; `checks` says which part and why"),
    )
}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.get("/healthz", responses=HEALTHZ_RESPONSES)
async def healthz() -> Response:
    return _json({"status": "ok"})


async def _store_check(state: AppState) -> dict[str, Any]:
    try:
        async with asyncio.timeout(min(PROBE_SECONDS, state.settings.store_timeout_seconds)):
            await state.store.probe()
    except StoreUnavailable as exc:
        return {"ok": False, "reason": f"database not writable: {exc.reason}"}
    except TimeoutError:
        return {"ok": False, "reason": "database not writable: probe timed out"}
    return {"ok": True}


def _trials_check(state: AppState) -> dict[str, Any]:
    if state.engine.trials and state.services:
        return {"ok": True}
    return {"ok": False, "reason": "no trial definitions loaded"}


def _configuration_check(state: AppState) -> dict[str, Any]:
    if state.settings.dev_mode or state.issuers:
        return {"ok": True}
    return {"ok": False, "reason": "no CDS_TRUSTED_ISSUERS: every hook call would be refused"}


@router.get("/readyz", responses=READYZ_RESPONSES)
async def readyz(request: Request) -> Response:
    state: AppState = request.app.state.cds
    checks = {
        "store": await _store_check(state),
        "trials": _trials_check(state),
        "configuration": _configuration_check(state),
    }
    failing = sorted(name for name, check in checks.items() if not check["ok"])
    if failing:
        log.warning(
            "not ready: %s", "; ".join(f"{name}: {checks[name]['reason']}" for name in failing)
        )
    body = {
        "status": "not ready" if failing else "ready",
        "checks": checks,
        "store": state.store.health.as_dict(),
    }
    return _json(body, 503 if failing else 200)
