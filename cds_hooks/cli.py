"""`trial-cds` command line: serve, screen, prescreen, load-fixtures, trials.

Each subcommand lives in its own module under `cds_hooks.commands`; this file only parses
arguments, so `trial-cds --help` stays fast and one command's imports never slow another.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

# Command name → module under cds_hooks.commands.
COMMANDS = {
    "screen": "screen",
    "prescreen": "prescreen",
    "serve": "serve",
    "load-fixtures": "load_fixtures",
    "trials": "trials",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `only` when it names one: a start that names
    its command pays for no other command's module (`trial-cds --help` lists them all)."""
    parser = argparse.ArgumentParser(
        prog="trial-cds", description="Clinical-trial screening as a CDS Hooks 2.0 service."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    names = [only] if only in COMMANDS else list(COMMANDS)
    for name in names:
        module = import_module(f"cds_hooks.commands.{COMMANDS[name]}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
