"""App factory: settings, one shared httpx client, engine, stores, routers."""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response

from cds_hooks import __version__, logs
from cds_hooks.api import errors, health, openapi, wire
from cds_hooks.api.limits import BodyDeadline, InFlightLimit
from cds_hooks.api.middleware import RequestLog, log_fields
from cds_hooks.api.reports import router as reports_router
from cds_hooks.api.routes import router
from cds_hooks.auth import Authenticator
from cds_hooks.eligibility import Engine
from cds_hooks.feedback import StoreOptions, StoreUnavailable, make_store
from cds_hooks.issuers import parse_trusted_issuers
from cds_hooks.prefetch import prefetch_templates
from cds_hooks.replay import make_replay_cache
from cds_hooks.report_store import make_report_store
from cds_hooks.services import build_services
from cds_hooks.settings import Settings, get_settings
from cds_hooks.state import AppState

log = logging.getLogger("trial_cds.app")


def _pseudonym_secret(settings: Settings) -> str:
    if settings.pseudonym_secret:
        return settings.pseudonym_secret
    if settings.dev_mode:
        return "trial-cds-dev-mode"  # stable across restarts for local work; not a secret
    log.warning("CDS_PSEUDONYM_SECRET is not set: feedback suppression lasts until restart")
    return secrets.token_hex(32)


def store_options(settings: Settings) -> StoreOptions:
    suppress_days = settings.feedback_suppress_days
    return StoreOptions(
        write_timeout=settings.store_timeout_seconds,
        lookup_timeout=settings.suppression_lookup_seconds,
        flush_seconds=settings.issued_card_flush_seconds,
        max_pending_cards=settings.issued_card_max_pending,
        card_retention_days=settings.issued_card_retention_days or max(suppress_days, 1),
        suppress_days=suppress_days,
    )


# A hook call allocates a few hundred thousand short-lived objects (the parsed body, its
# facts): with the default threshold (700) the cyclic collector ran several times per call
# and walked every object loaded at start each time, about 3 ms of a 25 ms call.
_YOUNG_COLLECTION_EVERY = 10_000


def _settle_collector() -> None:
    """Start-up objects (trials, terminology, schemas, templates) live as long as the
    process: frozen, no collection walks them again. Collections of new objects run less
    often; each still frees what a call left behind."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, older, oldest)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_level)
    # Fail at start-up, not on the first request: bad trials, code sets or issuer config.
    engine = Engine.default(settings.trials_dir)
    issuers = parse_trusted_issuers(settings.trusted_issuers)
    templates = prefetch_templates(list(engine.trials.values()), engine.terminology)
    services = build_services(list(engine.trials.values()), templates)
    # The wire schemas are compiled once, here, not on the first request.
    for definition in wire.REQUEST_DEFINITIONS:
        wire.validator(definition)
    # api.middleware.RequestLog writes the one JSON line per request; the server's own
    # access line would repeat it as unstructured text (with the client address).
    logging.getLogger("uvicorn.access").disabled = True

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.dev_mode:
            log.warning(
                "CDS_DEV_MODE is on: authentication is OFF and loopback/http FHIR "
                "servers are allowed. Never use this with real patient data."
            )
        elif not issuers:
            log.warning("no CDS_TRUSTED_ISSUERS configured: every hook call will be refused")
        # Idle connections are let go after 4 s, before the 5 s after which common FHIR
        # servers (Node's http default, many proxies are longer) close them on their side;
        # the client also retries a GET once when a server dropped the connection anyway.
        limits = httpx.Limits(
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=4.0
        )
        async with httpx.AsyncClient(limits=limits, follow_redirects=False) as http:
            store = make_store(settings.database_url, store_options(settings))
            # Never fails on the database: the hook works without it, readiness says why.
            await store.open()
            reports = make_report_store(settings.database_url, settings.report_ttl_seconds)
            try:
                await reports.open()
            except Exception as exc:  # like feedback: the hook must start without it
                # The type only: a driver's message can quote the database URL.
                log.error(
                    "screening report store unavailable (%s): cards go out without report "
                    "links until it can be written",
                    type(exc).__name__,
                )
            replay = make_replay_cache(settings)
            app.state.cds = AppState(
                settings=settings,
                engine=engine,
                services=services,
                templates=templates,
                http=http,
                store=store,
                reports=reports,
                authenticator=Authenticator(settings, http, replay),
                issuers=issuers,
                replay=replay,
                pseudonym_secret=_pseudonym_secret(settings),
            )
            _settle_collector()
            try:
                yield
            finally:
                await store.close()
                await reports.close()
                await replay.close()

    app = FastAPI(
        title="trial-cds-hooks",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    # Inside the request log, so a 408 for a stalled body is logged like any answer.
    app.add_middleware(BodyDeadline, seconds=settings.body_timeout_seconds)
    # Outside the body deadline: a refused request does not wait for its body.
    app.add_middleware(
        InFlightLimit, limit=settings.limit_concurrency, exempt=("/healthz", "/readyz")
    )
    # Added last, so outermost: CORS preflights and errors are logged too.
    app.add_middleware(RequestLog)
    errors.install(app)

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable) -> Response:
        # Only strict store operations raise (feedback): nothing of the request was kept.
        log_fields(request)["error"] = "store unavailable"
        return errors.outcome_response(
            503, "feedback could not be stored; nothing was kept, retry later", _RETRY_LATER
        )

    app.include_router(router)
    app.include_router(health.router)
    app.include_router(reports_router)

    def published_contract() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(title=app.title, version=app.version, routes=app.routes)
            app.openapi_schema = openapi.contract(
                generated, [(s.id, s.hook) for s in services.values()]
            )
        return app.openapi_schema

    app.openapi = published_contract  # type: ignore[method-assign]
    return app


_RETRY_LATER = {"Retry-After": "5"}
