"""`trial-cds screen PATH`: screen one patient's FHIR Bundle against the loaded trials.

The engine and the FHIR mappings are imported inside `run`: `cli.py` imports every command
module to build its parser, so module-level imports here would slow every other command.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cds_hooks.eligibility import ScreeningResult


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "screen",
        help="screen one patient's FHIR R4 Bundle",
        description="Screen one patient's FHIR R4 Bundle (collection, searchset, transaction "
        "or batch) against the trial definitions.",
    )
    parser.add_argument("path", type=Path, help="FHIR R4 Bundle JSON holding one patient")
    parser.add_argument(
        "--trial",
        action="append",
        dest="trials",
        metavar="ID",
        help="trial id (repeatable); default: every loaded trial",
    )
    parser.add_argument(
        "--as-of", dest="as_of", metavar="YYYY-MM-DD", help="screening date (default: today)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--trials-dir", type=Path, help="directory of trial definitions")
    parser.set_defaults(run=run)


def _fail(message: str) -> int:
    # One line whatever the message holds (exception texts may span several).
    print(f"trial-cds screen: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from cds_hooks import screening
    from cds_hooks.eligibility import Engine
    from cds_hooks.trials import TrialDefinitionError
    from fhir_mappings.bundle import BundleError

    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else date.today()
    except ValueError:
        return _fail(f"--as-of {args.as_of!r} is not a date (YYYY-MM-DD)")
    try:
        raw = json.loads(args.path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        return _fail(f"cannot read {args.path}: {exc.strerror or exc}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _fail(f"{args.path} is not JSON ({exc})")
    except RecursionError:
        return _fail(f"{args.path}: JSON nested too deeply")
    try:
        engine = Engine.default(args.trials_dir)
    except TrialDefinitionError as exc:
        return _fail(str(exc))
    try:
        record = screening.record_from_bundle(raw, engine, as_of)
    except (BundleError, screening.UnusableRecord) as exc:
        return _fail(f"{args.path}: {exc}")
    except Exception as exc:  # input we failed to anticipate: one line, never a traceback
        return _fail(f"{args.path}: cannot read the Bundle ({type(exc).__name__}: {exc})")
    unknown = [t for t in args.trials or () if t not in engine.trials]
    if unknown:
        known = ", ".join(sorted(engine.trials))
        return _fail(f"unknown trial {unknown[0]!r} (loaded: {known})")
    result = screening.screen(engine, record, as_of, args.trials)
    if args.format == "json":
        output = result.to_json()
        if record.skipped:  # resources not used, and why: nothing is dropped silently
            output["skipped"] = record.skipped_json()
        print(json.dumps(output, indent=2, ensure_ascii=False))
    else:
        print(render_text(result))
        for ref, reason in record.skipped:
            print(f"skipped {ref}: {reason}")
    return 0


def _value(evidence: list[dict[str, Any]]) -> tuple[str, str]:
    from cds_hooks.eligibility.values import fmt

    if not evidence:
        return "", ""
    first = evidence[0]
    value = first["value"]
    if value is None:
        shown = ""
    elif isinstance(value, bool):
        shown = "yes" if value else "no"
    elif isinstance(value, float):
        shown = fmt(value)  # 245 rather than 245.0
    else:
        shown = str(value)
    if first["unit"] and first["unit"] != "a":
        shown = f"{shown} {first['unit']}"
    return shown, first["date"] or ""


def render_text(result: ScreeningResult) -> str:
    lines = [f"{result.patient}  as of {result.as_of.isoformat()}"]
    for trial in result.trials:
        lines.append("")
        lines.append(
            f"{trial.trial} ({trial.registry}, {trial.recruitment_status}): {trial.status}"
        )
        rows = [("criterion", "role", "status", "value", "date", "reason")]
        for c in trial.criteria:
            value, day = _value([e.to_json() for e in c.evidence])
            rows.append((c.id, c.role, c.status, value[:24], day, c.reason))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(5)]
            lines.append("  ".join([*cells, row[5]]).rstrip())
    return "\n".join(lines)
