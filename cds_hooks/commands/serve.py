"""`trial-cds serve`: run the CDS Hooks service with uvicorn."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="run the CDS Hooks service")
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="default: 8080")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    # access_log off: the app writes its own structured line per request.
    uvicorn.run(
        "cds_hooks.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        access_log=False,
    )
    return 0
