"""`trial-cds serve`: run the CDS Hooks service with uvicorn, with its limits.

Every option has an environment variable (the README's configuration table); the option
wins. The request body deadline is applied by the app itself (api.limits), so it is
handed to the worker processes through the environment.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

# option → (Settings field, environment variable, type, help)
_LIMITS: dict[str, tuple[str, str, type, str]] = {
    "--workers": ("workers", "CDS_WORKERS", int, "worker processes"),
    "--keep-alive": (
        "keep_alive_seconds",
        "CDS_KEEP_ALIVE_SECONDS",
        int,
        "seconds an idle keep-alive connection stays open",
    ),
    "--limit-concurrency": (
        "limit_concurrency",
        "CDS_LIMIT_CONCURRENCY",
        int,
        "requests in progress per worker; beyond, 503 at once",
    ),
    "--graceful-shutdown": (
        "graceful_shutdown_seconds",
        "CDS_GRACEFUL_SHUTDOWN_SECONDS",
        int,
        "seconds requests in progress may finish after SIGTERM",
    ),
    "--body-timeout": (
        "body_timeout_seconds",
        "CDS_BODY_TIMEOUT_SECONDS",
        float,
        "seconds the whole request body may take to arrive (408 beyond)",
    ),
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="run the CDS Hooks service")
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="default: 8080")
    for option, (field, env, kind, text) in _LIMITS.items():
        parser.add_argument(option, dest=field, type=kind, default=None, help=f"{text} (${env})")
    parser.set_defaults(run=run)


def backstop(limit: int) -> int:
    """uvicorn's connection limit for an app limit of `limit` requests in progress."""
    return 2 * limit + 16


def uvicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    """The uvicorn.run keyword arguments: options over environment over defaults."""
    from cds_hooks.settings import Settings

    overrides = {
        field: getattr(args, field)
        for field, *_ in _LIMITS.values()
        if getattr(args, field, None) is not None
    }
    settings = Settings(**overrides)  # validated like the environment
    return {
        "host": args.host,
        "port": args.port,
        "workers": settings.workers,
        "timeout_keep_alive": settings.keep_alive_seconds,
        # The app refuses requests beyond the limit itself, with an OperationOutcome;
        # uvicorn's own limit (which also counts idle keep-alive connections, and answers
        # plain text) is only the backstop above it.
        "limit_concurrency": backstop(settings.limit_concurrency),
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
        # The app reads these itself, in every worker.
        "env": {
            "CDS_BODY_TIMEOUT_SECONDS": str(settings.body_timeout_seconds),
            "CDS_LIMIT_CONCURRENCY": str(settings.limit_concurrency),
        },
    }


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    try:
        options = uvicorn_options(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"trial-cds serve: {first['loc'][0]}: {first['msg']}")
        return 2
    os.environ.update(options.pop("env"))
    # access_log off: the app writes its own structured line per request.
    uvicorn.run("cds_hooks.app:create_app", factory=True, access_log=False, **options)
    return 0
