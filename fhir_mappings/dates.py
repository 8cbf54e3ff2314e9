"""FHIR date, dateTime and instant → calendar date.

A dateTime with an offset is reduced to the calendar date *as written*, not shifted to UTC:
the clinician saw a result dated 2026-03-01 23:30-05:00 as "1 March", and the lookback
window is counted in the patient's local days.
"""

from __future__ import annotations

import re
from datetime import date

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_date(value: object) -> tuple[date | None, str | None]:
    """(date, precision) with precision "year", "month" or "day"; (None, None) if unreadable.

    A partial date returns the first day of its period with its precision, so callers that
    need a full date can refuse it explicitly.
    """
    if type(value) is not str:
        return None, None
    # Fast path for the common full date / dateTime ("2026-02-20T08:30:00+01:00").
    if len(value) >= 10 and value[4] == "-" and value[7] == "-" and (
        len(value) == 10 or value[10] == "T"
    ):
        try:
            return date.fromisoformat(value[:10]), "day"
        except ValueError:
            pass  # e.g. 2026-02-30: fall through to the strict reading below
    match = _DATE.match(value)
    if match is None:
        return None, None
    year, month, day = match.groups()
    try:
        if day is not None:
            return date(int(year), int(month), int(day)), "day"
        if month is not None:
            return date(int(year), int(month), 1), "month"
        return date(int(year), 1, 1), "year"
    except ValueError:
        return None, None


def full_date(value: object) -> date | None:
    """The calendar date of a full date/dateTime, else None (partial or unreadable)."""
    parsed, precision = parse_date(value)
    return parsed if precision == "day" else None


def first_full_date(*values: object) -> tuple[date | None, bool]:
    """The first readable full date among `values`; flag True if a value was present but
    partial or unreadable (so the caller can say why a resource has no usable date)."""
    bad = False
    for value in values:
        if value is None:
            continue
        parsed = full_date(value)
        if parsed is not None:
            return parsed, bad
        bad = True
    return None, bad
