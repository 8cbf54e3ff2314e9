"""Every environment variable the service reads, in one place (pydantic-settings).

Defaults are safe for production: with no trusted issuer configured every hook call is
refused, and only https FHIR servers on an allowlist are contacted. `CDS_DEV_MODE=1` turns
authentication off and allows loopback FHIR servers, for local work and the demo.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    # Public base URL of this service, e.g. https://cds.example.org; JWT `aud` is checked
    # against "<CDS_PUBLIC_URL>/cds-services/<id>" (and ".../cds-services" for discovery).
    public_url: str = Field(default="http://127.0.0.1:8080", alias="CDS_PUBLIC_URL")
    # JSON text or a path to a JSON file:
    # {"<iss>": {"jwks_url": "...", "jku_allowlist": ["..."], "fhir_servers": ["..."]}}
    trusted_issuers: str = Field(default="", alias="CDS_TRUSTED_ISSUERS")
    dev_mode: bool = Field(default=False, alias="CDS_DEV_MODE")
    # Comma-separated FHIR base URLs we may call when no issuer-specific list applies.
    fhir_allowlist: str = Field(default="", alias="CDS_FHIR_ALLOWLIST")
    jwt_algorithms: str = Field(default="RS384,ES384", alias="CDS_JWT_ALGORITHMS")
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300, alias="CDS_JWT_LEEWAY_SECONDS")
    # Comma-separated origins allowed by CORS (the CDS Hooks sandbox runs in a browser).
    cors_origins: str = Field(default="", alias="CDS_CORS_ORIGINS")

    # Trial definitions: a directory of <trial-id>.json; default is the packaged set.
    trials_dir: Path | None = Field(default=None, alias="CDS_TRIALS_DIR")

    # Persistence. SQLite file by default; postgresql://... when a shared database is used.
    database_url: str = Field(
        default="sqlite:///./trial-cds-feedback.sqlite3", alias="DATABASE_URL"
    )
    # Replay cache for JWT `jti`: in-process by default; redis://... for N replicas.
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    # Keys the patient pseudonyms in the feedback store (HMAC-style). Set the same value on
    # every replica; unset, a random per-process value is used (suppression then lasts only
    # until restart), so production deployments must set it.
    pseudonym_secret: str | None = Field(default=None, alias="CDS_PSEUDONYM_SECRET")
    # A card overridden as "declined"/"already screened" stays hidden this long.
    feedback_suppress_days: int = Field(default=90, ge=0, alias="CDS_FEEDBACK_SUPPRESS_DAYS")
    # Issued cards are kept this long (feedback on an older card cannot suppress); unset,
    # as long as the suppression window.
    issued_card_retention_days: int | None = Field(
        default=None, ge=1, alias="CDS_ISSUED_CARD_RETENTION_DAYS"
    )
    # Issued cards are written in batches this often, off the request path; at most this
    # many wait in memory while the database is down.
    issued_card_flush_seconds: float = Field(
        default=0.2, gt=0, le=60, alias="CDS_ISSUED_CARD_FLUSH_SECONDS"
    )
    issued_card_max_pending: int = Field(default=10_000, ge=1, alias="CDS_ISSUED_CARD_MAX_PENDING")
    # A write that cannot get the database in this time fails (feedback → 503).
    store_timeout_seconds: float = Field(default=5.0, gt=0, alias="CDS_STORE_TIMEOUT_SECONDS")
    # The hook waits this long for the suppression lookup, then shows the card anyway.
    suppression_lookup_seconds: float = Field(
        default=0.5, gt=0, alias="CDS_SUPPRESSION_LOOKUP_SECONDS"
    )

    # Bounds on what one hook call may cost.
    fhir_timeout_seconds: float = Field(default=5.0, gt=0, alias="CDS_FHIR_TIMEOUT_SECONDS")
    fhir_total_seconds: float = Field(default=10.0, gt=0, alias="CDS_FHIR_TOTAL_SECONDS")
    fhir_max_pages: int = Field(default=10, ge=1, alias="CDS_FHIR_MAX_PAGES")
    fhir_page_size: int = Field(default=200, ge=1, le=1000, alias="CDS_FHIR_PAGE_SIZE")
    # Bytes read from the FHIR server: per response, and for all responses of one hook
    # call. Beyond, that data is unavailable (412 or unknown); memory stays bounded by
    # about CDS_FHIR_MAX_CALL_BYTES × the concurrency limit.
    fhir_max_response_bytes: int = Field(
        default=10_000_000, ge=10_000, alias="CDS_FHIR_MAX_RESPONSE_BYTES"
    )
    fhir_max_call_bytes: int = Field(default=25_000_000, ge=10_000, alias="CDS_FHIR_MAX_CALL_BYTES")
    # The whole request body must arrive within this time of the request start (408).
    body_timeout_seconds: float = Field(default=10.0, gt=0, alias="CDS_BODY_TIMEOUT_SECONDS")
    max_body_bytes: int = Field(default=5_000_000, ge=1024, alias="CDS_MAX_BODY_BYTES")
    max_prefetch_entries: int = Field(default=5000, ge=1, alias="CDS_MAX_PREFETCH_ENTRIES")
    max_json_depth: int = Field(default=64, ge=8, alias="CDS_MAX_JSON_DEPTH")

    # `trial-cds serve` (uvicorn): processes, connections, shutdown.
    workers: int = Field(default=1, ge=1, le=64, alias="CDS_WORKERS")
    keep_alive_seconds: int = Field(default=5, ge=1, alias="CDS_KEEP_ALIVE_SECONDS")
    # Connections and requests in progress per process; beyond, 503 at once.
    limit_concurrency: int = Field(default=100, ge=1, alias="CDS_LIMIT_CONCURRENCY")
    graceful_shutdown_seconds: int = Field(default=10, ge=0, alias="CDS_GRACEFUL_SHUTDOWN_SECONDS")
    # Cards per hook call, best first (CDS Hooks: few, actionable cards).
    max_cards: int = Field(default=3, ge=1, le=20, alias="CDS_MAX_CARDS")
    # A screening report link (GET /reports/<token>) works this long, then 410 and purged.
    report_ttl_seconds: int = Field(default=86400, ge=1, alias="CDS_REPORT_TTL_SECONDS")

    log_level: str = Field(default="INFO", alias="CDS_LOG_LEVEL")
    # Screening date override (YYYY-MM-DD) for demos, tests and retrospective screening;
    # unset in production, where the screening date is today.
    as_of: date | None = Field(default=None, alias="CDS_AS_OF")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
