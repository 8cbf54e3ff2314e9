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

    # Bounds on what one hook call may cost.
    fhir_timeout_seconds: float = Field(default=5.0, gt=0, alias="CDS_FHIR_TIMEOUT_SECONDS")
    fhir_total_seconds: float = Field(default=10.0, gt=0, alias="CDS_FHIR_TOTAL_SECONDS")
    fhir_max_pages: int = Field(default=10, ge=1, alias="CDS_FHIR_MAX_PAGES")
    fhir_page_size: int = Field(default=200, ge=1, le=1000, alias="CDS_FHIR_PAGE_SIZE")
    max_body_bytes: int = Field(default=5_000_000, ge=1024, alias="CDS_MAX_BODY_BYTES")
    max_prefetch_entries: int = Field(default=5000, ge=1, alias="CDS_MAX_PREFETCH_ENTRIES")
    max_json_depth: int = Field(default=64, ge=8, alias="CDS_MAX_JSON_DEPTH")

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
