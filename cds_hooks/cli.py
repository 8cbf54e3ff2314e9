"""`trial-cds` command line: serve, screen, prescreen, load-fixtures, trials.

Each subcommand lives in its own module under `cds_hooks.commands`; this file only parses
arguments, so `trial-cds --help` stays fast and one command's imports never slow another.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trial-cds", description="Clinical-trial screening as a CDS Hooks 2.0 service."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("screen", "prescreen", "serve", "load_fixtures", "trials"):
        module = import_module(f"cds_hooks.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
