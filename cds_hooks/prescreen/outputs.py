"""What a pre-screen writes: worklist (CSV + Parquet), attrition table, funnels, summary.

The worklist and the attrition table hold exact counts and patient ids: they stay with the
study team. `summary.html` and the funnel charts are the shareable part: with a minimum
cell size N, every count from 1 to N-1 is shown as "<N" (a zero stays 0: it identifies
no one).
"""

from __future__ import annotations

import base64
import csv
import heapq
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cds_hooks.prescreen.screening import (
    STATUS_ORDER,
    WORKLIST_COLUMNS,
    TrialTally,
    WorklistRow,
    worklist_key,
)
from cds_hooks.trials.model import TrialDefinition

ATTRITION_COLUMNS = (
    "trial",
    "registry",
    "criterion",
    "title",
    "role",
    "kind",
    "met",
    "not_met",
    "unknown",
    "excluded",
    "excluded_alone",
)
FUNNEL_PREFIX = "funnel-"


def masked(count: int, min_cell: int | None) -> str:
    """A count as the shareable summary shows it."""
    if min_cell is not None and 0 < count < min_cell:
        return f"<{min_cell}"
    return str(count)


def sort_worklist(rows: Iterable[WorklistRow]) -> list[WorklistRow]:
    """Likely first, then fewest unknowns, then the earliest screen-by date."""
    return sorted(rows, key=worklist_key)


_PARQUET_BATCH = 50_000


def write_worklist(parts: Sequence[Iterable[WorklistRow]], out_dir: Path) -> int:
    """worklist.csv and worklist.parquet from rows sorted within each part (`worklist_key`):
    the parts are merged as they are read, so memory holds one batch, not the worklist."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("patient_id", pa.string()),
            ("trial", pa.string()),
            ("registry", pa.string()),
            ("status", pa.string()),
            ("unknown", pa.int64()),
            ("to_check", pa.string()),
            # Dates stay dates in Parquet (date32); the CSV writes them as YYYY-MM-DD.
            ("screen_by", pa.date32()),
            ("excluded_by", pa.string()),
        ]
    )
    written = 0
    batch: list[WorklistRow] = []

    def flush(writer: Any) -> None:
        columns: list[Sequence[Any]] = [[] for _ in schema]
        if batch:
            columns = list(zip(*batch, strict=True))
        writer.write_table(pa.table(columns, schema=schema))
        batch.clear()

    with (
        (out_dir / "worklist.csv").open("w", newline="", encoding="utf-8") as out,
        pq.ParquetWriter(out_dir / "worklist.parquet", schema) as parquet,
    ):
        csv_out = csv.writer(out, lineterminator="\n")
        csv_out.writerow(WORKLIST_COLUMNS)
        for row in heapq.merge(*parts, key=worklist_key):
            csv_out.writerow(row)
            batch.append(row)
            written += 1
            if len(batch) == _PARQUET_BATCH:
                flush(parquet)
        if batch or not written:
            flush(parquet)
    return written


def attrition_rows(
    trials: Sequence[TrialDefinition], tallies: dict[str, TrialTally]
) -> list[dict[str, Any]]:
    rows = []
    for trial in trials:
        tally = tallies[trial.id]
        for criterion in trial.criteria:
            counts = tally.criteria.get(criterion.id)
            rows.append(
                {
                    "trial": trial.id,
                    "registry": trial.registry_id,
                    "criterion": criterion.id,
                    "title": criterion.title,
                    "role": criterion.role,
                    "kind": criterion.kind,
                    "met": counts.met if counts else 0,
                    "not_met": counts.not_met if counts else 0,
                    "unknown": counts.unknown if counts else 0,
                    "excluded": counts.excluded if counts else 0,
                    "excluded_alone": counts.excluded_alone if counts else 0,
                }
            )
    return rows


def write_attrition(rows: Sequence[dict[str, Any]], out_dir: Path) -> None:
    with (out_dir / "attrition.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(ATTRITION_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


@dataclass(frozen=True)
class FunnelStep:
    label: str
    remaining: int


def funnel(trial: TrialDefinition, tally: TrialTally, screened: int) -> list[FunnelStep]:
    """Patients still in the running after each criterion, in definition order; then how
    the remainder splits into possibly and likely eligible."""
    steps = [FunnelStep("screened", screened)]
    remaining = screened
    for criterion in trial.criteria:
        remaining -= tally.first_excluded_by.get(criterion.id, 0)
        steps.append(FunnelStep(criterion.title, remaining))
    steps.append(FunnelStep("likely eligible", tally.statuses.get("likely_eligible", 0)))
    return steps


def funnel_png(trial: TrialDefinition, steps: Sequence[FunnelStep], min_cell: int | None) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a display
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 0.32 * len(steps) + 1.2), dpi=100)
    axes = figure.subplots()
    labels = [s.label if len(s.label) <= 48 else s.label[:47] + "…" for s in steps]
    shown = [masked(s.remaining, min_cell) for s in steps]
    # A masked bar is drawn at the mask's bound, hatched, so its length reveals nothing.
    widths = [
        min_cell if min_cell is not None and text.startswith("<") else s.remaining
        for s, text in zip(steps, shown, strict=True)
    ]
    positions = list(range(len(steps)))[::-1]
    bars = axes.barh(positions, widths, color="#4c72b0")
    for bar, text in zip(bars, shown, strict=True):
        if text.startswith("<"):
            bar.set_hatch("//")
            bar.set_alpha(0.5)
    for position, width, text in zip(positions, widths, shown, strict=True):
        axes.text(width, position, f" {text}", va="center", fontsize=8)
    axes.set_yticks(positions, labels, fontsize=8)
    axes.set_xlabel("patients still in the running")
    axes.set_title(f"{trial.registry_id}: {trial.short_title}", fontsize=10)
    axes.set_xlim(0, max(max(widths, default=1), 1) * 1.15)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def funnel_file(trial: TrialDefinition) -> str:
    return f"{FUNNEL_PREFIX}{trial.id}.png"


@dataclass(frozen=True)
class SummaryInput:
    as_of: date
    trials: Sequence[TrialDefinition]
    tallies: dict[str, TrialTally]
    attrition: Sequence[dict[str, Any]]
    charts: dict[str, bytes]  # trial id → PNG
    patients: int
    unscreened: int
    files: int
    lines: int
    bad_lines: int
    by_type: dict[str, int]
    unattached: dict[str, int]
    min_cell: int | None


def render_summary(data: SummaryInput) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("cds_hooks.prescreen", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["cell"] = lambda n: masked(int(n), data.min_cell)
    trials = []
    for trial in data.trials:
        tally = data.tallies[trial.id]
        trials.append(
            {
                "definition": trial,
                "statuses": [(s, tally.statuses.get(s, 0)) for s in STATUS_ORDER],
                "criteria": [r for r in data.attrition if r["trial"] == trial.id],
                "chart": base64.b64encode(data.charts[trial.id]).decode("ascii"),
            }
        )
    template = env.get_template("summary.html.j2")
    return template.render(data=data, trials=trials)
