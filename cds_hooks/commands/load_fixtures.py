"""`trial-cds load-fixtures`: load fixture patients into a FHIR server."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("load-fixtures", help="load fixture patients into a FHIR server")
    parser.add_argument("--fhir-server", required=True)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print("load-fixtures: not implemented yet")
    return 1
