"""`trial-cds trials check [PATH ...]` and `trial-cds trials show ID`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "trials",
        help="check or show trial definitions",
        description="Tools for the people who write trial definitions.",
    )
    sub = parser.add_subparsers(dest="trials_command", required=True)
    check = sub.add_parser(
        "check",
        help="validate definitions (schema + semantic lint); exit 2 on any error",
        description="Validate trial definition files or directories (default: the packaged "
        "definitions): the schema, then unknown code sets, contradictory or impossible "
        "ranges, criteria without source text, and branches that can never decide.",
    )
    check.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    check.set_defaults(run=run_check)
    show = sub.add_parser(
        "show",
        help="print a definition as Markdown for review and sign-off",
        description="Print one trial definition (by id or registry id) as Markdown.",
    )
    show.add_argument("id", metavar="ID")
    show.add_argument("--trials-dir", type=Path, help="directory of trial definitions")
    show.set_defaults(run=run_show)


def run_check(args: argparse.Namespace) -> int:
    from cds_hooks.trials.lint import check
    from cds_hooks.trials.loader import PACKAGED_DIR
    from fhir_mappings.terminology import TerminologyError, load_terminology

    try:
        terminology = load_terminology()
    except TerminologyError as exc:
        print(f"trial-cds trials check: error: {exc}", file=sys.stderr)
        return 2
    paths = list(args.paths) or [PACKAGED_DIR]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"trial-cds trials check: error: {missing[0]}: no such file", file=sys.stderr)
        return 2
    findings = check(paths, terminology)
    errors = [f for f in findings if f.error]
    for finding in findings:
        print(finding, file=sys.stderr if finding.error else sys.stdout)
    if errors:
        print(f"{len(errors)} error(s)", file=sys.stderr)
        return 2
    print("ok")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from cds_hooks.trials import TrialDefinitionError, load_trials
    from cds_hooks.trials.render import to_markdown

    try:
        trials = load_trials(args.trials_dir)
    except TrialDefinitionError as exc:
        print(f"trial-cds trials show: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    wanted = args.id.strip()
    found = [t for t in trials if wanted in (t.id, t.registry_id)]
    if not found:
        known = ", ".join(f"{t.id} ({t.registry_id})" for t in trials)
        print(
            f"trial-cds trials show: error: unknown trial {wanted!r} (loaded: {known})",
            file=sys.stderr,
        )
        return 2
    print(to_markdown(found[0]))
    return 0
