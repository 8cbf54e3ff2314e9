"""Subcommands of `trial-cds`; each module exposes add_parser(subparsers)."""
