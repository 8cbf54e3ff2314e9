"""`trial-cds prescreen EXPORT_DIR --out OUT_DIR`: screen a Bulk FHIR export on Dask.

Exit codes: 0 every line read and every patient screened; 1 outputs written, but some
lines were bad or some patients could not be screened (listed in OUT_DIR); 2 nothing was
screened (unreadable export, bad arguments, unreachable scheduler).

Dask, pandas and matplotlib are imported inside `run`: cli.py imports every command module
to build its parser, and `trial-cds screen` must not pay for them.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "prescreen",
        help="pre-screen a Bulk FHIR export (NDJSON) on Dask: worklist and attrition",
        description="Screen every patient of a Bulk Data ($export) NDJSON export against the "
        "trial definitions on a Dask cluster. Writes worklist.csv/.parquet, attrition.csv, "
        "one funnel PNG per trial, summary.html, results/ (full results, as `screen "
        "--format json`), bad_lines.csv and unscreened.csv. Exit 0 when clean, 1 when lines "
        "were bad or patients could not be screened, 2 when nothing could be screened.",
    )
    parser.add_argument("export_dir", type=Path, metavar="EXPORT_DIR", help="export directory")
    parser.add_argument("--out", type=Path, required=True, metavar="OUT_DIR", help="output dir")
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
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="an existing Dask scheduler (tcp://host:8786); default: a local cluster",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="local cluster: worker processes (default: one per core); with --scheduler: "
        "wait until N workers are connected",
    )
    parser.add_argument(
        "--min-cell",
        dest="min_cell",
        type=_positive,
        metavar="N",
        help="summary.html and the charts show counts from 1 to N-1 as '<N'",
    )
    parser.add_argument("--trials-dir", type=Path, help="directory of trial definitions")
    parser.add_argument(
        "--partitions",
        type=_positive,
        metavar="N",
        help="patient partitions (default: from the export's size)",
    )
    parser.set_defaults(run=run)


def _fail(message: str) -> int:
    print(f"trial-cds prescreen: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else date.today()
    except ValueError:
        return _fail(f"--as-of {args.as_of!r} is not a date (YYYY-MM-DD)")
    from cds_hooks.prescreen.pipeline import PrescreenInputError, PrescreenOptions, run_prescreen

    options = PrescreenOptions(
        export_dir=args.export_dir,
        out_dir=args.out,
        as_of=as_of,
        trial_ids=args.trials,
        trials_dir=args.trials_dir,
        scheduler=args.scheduler,
        workers=args.workers,
        min_cell=args.min_cell,
        partitions=args.partitions,
        progress=True,
    )
    try:
        outcome = run_prescreen(options)
    except PrescreenInputError as exc:
        return _fail(str(exc))
    for bad in outcome.bad_sample:
        print(f"bad line {bad.file}:{bad.line}: {bad.reason}", file=sys.stderr)
    if outcome.bad_lines > len(outcome.bad_sample):
        more = outcome.bad_lines - len(outcome.bad_sample)
        print(f"… and {more} more bad lines", file=sys.stderr)
    for patient_id, reason in outcome.unscreened[:20]:
        print(f"not screened: patient {patient_id}: {reason}", file=sys.stderr)
    if outcome.ignored_files:
        print(
            f"ignored {len(outcome.ignored_files)} file(s) not named *.ndjson[.gz]: "
            + ", ".join(outcome.ignored_files[:5]),
            file=sys.stderr,
        )
    print(
        f"{outcome.patients} patients screened from {outcome.files} files ({outcome.lines} "
        f"lines) on {outcome.workers} Dask workers, {outcome.partitions} partitions"
    )
    for trial_id, statuses in outcome.statuses.items():
        mix = ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
        print(f"{trial_id}: {mix}")
    print(
        f"{outcome.bad_lines} bad lines (bad_lines.csv), {len(outcome.unscreened)} patients "
        f"not screened (unscreened.csv); outputs in {args.out}"
    )
    return 0 if outcome.clean else 1
