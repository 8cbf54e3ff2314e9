"""FHIR date, dateTime and instant → calendar date with its precision.

A dateTime with an offset is reduced to the calendar date *as written*, not shifted to UTC
or to the server's zone: the clinician saw a result dated 2026-03-01T23:30:00-05:00 as
"1 March", the EHR files it under that day, and lookback windows ("in the last 28 days") are
counted in the patient's local days. Shifting to UTC would move late-evening results to the
next day and could push a result in or out of a window by a day for no clinical reason.

Values are checked against the FHIR R4 grammar (year, year-month, full date, or full date
with a time); anything else is refused with a reason rather than read by a prefix, so
"20260220" is not taken for the year 2026.
"""

from __future__ import annotations

import re
from datetime import date
from datetime import time as ClockTime
from typing import Literal, NamedTuple

from fhir_mappings._read import short_repr

Precision = Literal["year", "month", "day"]

# FHIR R4 date / dateTime / instant (https://hl7.org/fhir/R4/datatypes.html#dateTime).
# Two tolerances, because only the calendar date is used and it is unambiguous either way:
# the time zone may be missing (FHIR requires it with a time) and so may the seconds (some
# feeds send "T10:00"). ASCII digits only ([0-9], not \d).
_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
_TIME = re.compile(
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::(?:[0-5][0-9]|60)(?:\.[0-9]+)?)?"
    r"(?:Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
)


class FhirDate(NamedTuple):
    """A parsed FHIR date. `value` is the first day of the period for partial dates."""

    value: date | None
    precision: Precision | None
    reason: str | None = None  # why `value` is None although something was given


_ABSENT = FhirDate(None, None, None)


def parse_date(value: object) -> FhirDate:
    """Read a FHIR date, dateTime or instant; never raises.

    None → (None, None, None). A full date → precision "day"; "2026-02" → the 1st of February
    with precision "month"; "2026" → 1 January with precision "year", so callers that need
    a full date can refuse it explicitly. Unreadable → value None and a reason.
    """
    if value is None:
        return _ABSENT
    if type(value) is not str:
        return FhirDate(None, None, f"date {short_repr(value)} is not a string")
    # Fast path for the common full date and dateTime ("2026-02-20T08:30:00+01:00"): the C
    # ISO parser reads the date part; the time part is checked only when there is one.
    size = len(value)
    if size >= 10 and value[4] == "-" and value[7] == "-" and value[:4].isdigit():
        if size == 10 or (value[10] == "T" and _TIME.fullmatch(value, 10) is not None):
            try:
                return FhirDate(date.fromisoformat(value[:10]), "day")
            except ValueError:
                pass
            if _DATE.fullmatch(value, 0, 10) is not None:  # well formed, e.g. 2026-02-30
                return FhirDate(None, None, f"date {short_repr(value)} is not a calendar date")
        return FhirDate(None, None, f"date {short_repr(value)} is not a FHIR date or dateTime")
    match = _DATE.fullmatch(value)
    if match is None:
        return FhirDate(None, None, f"date {short_repr(value)} is not a FHIR date or dateTime")
    year, month = int(match.group(1)), match.group(2)
    try:
        if month is not None:
            return FhirDate(date(year, int(month), 1), "month")
        return FhirDate(date(year, 1, 1), "year")
    except ValueError:
        return FhirDate(None, None, f"date {short_repr(value)} is not a calendar date")


def full_date(value: object) -> date | None:
    """The calendar date of a full date/dateTime, else None (partial or unreadable)."""
    parsed = parse_date(value)
    return parsed.value if parsed.precision == "day" else None


def _why_not_full(value: object, parsed: FhirDate) -> str:
    if parsed.value is not None:
        return f"is not a full date ({short_repr(value)}, precision {parsed.precision})"
    return f"is unreadable ({parsed.reason})"


def first_present_date(*values: object) -> tuple[date | None, str | None]:
    """The date of the first value that is present (not None), which alone decides.

    For a FHIR choice such as effective[x] only the element that is there counts: a partial
    or unreadable one gives (None, why) instead of falling through to a later candidate.
    `why` completes a sentence ("effective date " + why). Nothing present → (None, None).
    """
    for value in values:
        if value is None:
            continue
        parsed = parse_date(value)
        if parsed.precision == "day":
            return parsed.value, None
        return None, _why_not_full(value, parsed)
    return None, None


def effective_or_issued(
    effective: tuple[object, ...], issued: object
) -> tuple[date | None, list[str]]:
    """The clinically relevant date of an Observation or DiagnosticReport and any problems.

    `effective` is the effective[x] choice (only the element present decides); `issued`
    is used only when no effective element is there at all, so a partial effective date
    never falls through to the later issued time and makes a result look newer.
    """
    problems: list[str] = []
    when, why = first_present_date(*effective)
    if why is not None:
        problems.append(f"effective date {why}")
    elif when is None:
        when, why = first_present_date(issued)
        if why is not None:
            problems.append(f"issued date {why}")
    return when, problems


def first_full_date(*values: object) -> tuple[date | None, str | None]:
    """The first readable full date among `values`, falling through partial or unreadable
    ones (for fields that are alternatives, such as onset then recordedDate). Also returns
    why the first bad value was passed over, or None when no present value was bad."""
    why: str | None = None
    for value in values:
        if value is None:
            continue
        parsed = parse_date(value)
        if parsed.precision == "day":
            return parsed.value, why
        if why is None:
            why = _why_not_full(value, parsed)
    return None, why


def time_of_day(value: object) -> ClockTime | None:
    """The wall-clock time of a dateTime/instant as written ("2026-03-01T08:30:00+01:00" →
    08:30), or None for a date without a time or anything unreadable. Like the calendar
    date, it is not shifted to UTC: it orders results of one local day."""
    if type(value) is not str or parse_date(value).precision != "day":
        return None
    return clock_time(value)


def clock_time(value: object) -> ClockTime | None:
    """`time_of_day` of a value already read as a full date or dateTime by `parse_date`
    (which checked its grammar): only the time part is read here."""
    if type(value) is not str or len(value) < 16 or value[10:11] != "T":
        return None
    try:
        return ClockTime.fromisoformat(value[11:19] if value[16:17] == ":" else value[11:16])
    except ValueError:
        return None
