"""FHIR dates at every edge of the grammar: each precision, times and offsets at their
limits, impossible calendar dates, near misses, and the reasons, word for word."""

from __future__ import annotations

from datetime import date, time

import pytest

from fhir_mappings.dates import (
    FhirDate,
    clock_time,
    effective_or_issued,
    first_full_date,
    first_present_date,
    full_date,
    parse_date,
    time_of_day,
)

FEB20 = date(2026, 2, 20)


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-20",
        "2026-02-20T08:30:00+01:00",
        "2026-02-20T08:30:00-05:00",
        "2026-02-20T08:30:00Z",
        "2026-02-20T08:30:00.123456Z",
        "2026-02-20T08:30:60Z",  # a leap second
        "2026-02-20T08:30",  # no seconds, no zone: tolerated
        "2026-02-20T08:30Z",
        "2026-02-20T00:00:00+14:00",
        "2026-02-20T23:59:59-13:59",
        "2026-02-20T19:00:00+00:00",
        "2026-02-20T09:00:00+09:30",
    ],
)
def test_full_dates_and_date_times_read_as_written(value: str) -> None:
    assert parse_date(value) == FhirDate(FEB20, "day", None)
    assert full_date(value) == FEB20


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-20T24:00:00Z",
        "2026-02-20T08:60:00Z",
        "2026-02-20T08:30:61Z",
        "2026-02-20T8:30:00Z",
        "2026-02-20T08:30:00+14:01",
        "2026-02-20T08:30:00+15:00",
        "2026-02-20T08:30:00+01",
        "2026-02-20T08:30:00+0100",
        "2026-02-20T08:30:00.Z",
        "2026-02-20T",
        "2026-02-20T08",
        "2026-02-20 08:30:00",
        "2026-02-20Z",
        "2026-02-20x",
        "2026-02-2a",
        "2026-02-20T08:30:00Zjunk",
        "20260220",
        "2026-2-20",
        "2026/02/20",
        "26-02-20",
        "202",
        "2026-2",
        "2026-02-",
        "2026-",
        "",
        " 2026-02-20",
        "abcd-02-20",
        "２０２６-02-20",  # full-width digits
        "2026-０２-20",
    ],
)
def test_near_misses_are_refused_not_read_by_a_prefix(value: str) -> None:
    assert parse_date(value) == FhirDate(
        None, None, f"date {value!r} is not a FHIR date or dateTime"
    )
    assert full_date(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-30",
        "2026-02-29",  # 2026 is a common year
        "2026-13-01",
        "2026-00-10",
        "2026-04-31",
        "2026-02-00",
        "2026-02-30T08:30:00Z",
        "2026-13",
        "2026-00",
        "0000",
        "0000-01-01",
    ],
)
def test_well_formed_but_impossible_dates_are_not_calendar_dates(value: str) -> None:
    assert parse_date(value) == FhirDate(None, None, f"date {value!r} is not a calendar date")


def test_leap_day_of_a_leap_year() -> None:
    assert parse_date("2024-02-29") == FhirDate(date(2024, 2, 29), "day")
    assert parse_date("2024-02-29T12:00:00Z") == FhirDate(date(2024, 2, 29), "day")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02", FhirDate(date(2026, 2, 1), "month")),
        ("2026-12", FhirDate(date(2026, 12, 1), "month")),
        ("2026-01", FhirDate(date(2026, 1, 1), "month")),
        ("2026", FhirDate(date(2026, 1, 1), "year")),
        ("0001", FhirDate(date(1, 1, 1), "year")),
        ("9999-12", FhirDate(date(9999, 12, 1), "month")),
    ],
)
def test_partial_dates_start_their_period(value: str, expected: FhirDate) -> None:
    assert parse_date(value) == expected
    assert full_date(value) is None


def test_absent_and_non_string_values() -> None:
    assert parse_date(None) == FhirDate(None, None, None)
    assert parse_date(20260220) == FhirDate(None, None, "date 20260220 is not a string")
    assert parse_date(["2026-02-20"]) == FhirDate(None, None, "date ['2026-02-20'] is not a string")
    assert full_date(None) is None
    assert full_date(20260220) is None


@pytest.mark.parametrize(("length", "cut"), [(40, False), (41, True)])
def test_long_values_are_cut_to_forty_characters_in_the_reason(length: int, cut: bool) -> None:
    value = "x" * (length - 2)  # repr adds the two quotes
    shown = repr(value)
    assert len(shown) == length
    if cut:
        shown = shown[:37] + "..."
    assert parse_date(value) == FhirDate(None, None, f"date {shown} is not a FHIR date or dateTime")


def test_first_present_date_lets_only_the_present_element_decide() -> None:
    assert first_present_date() == (None, None)
    assert first_present_date(None, None) == (None, None)
    assert first_present_date(None, "2026-02-20", "2026-01-01") == (FEB20, None)
    assert first_present_date("2026-02", "2026-02-20") == (
        None,
        "is not a full date ('2026-02', precision month)",
    )
    assert first_present_date("2026", "2026-02-20") == (
        None,
        "is not a full date ('2026', precision year)",
    )
    assert first_present_date("2026-02-30", "2026-02-20") == (
        None,
        "is unreadable (date '2026-02-30' is not a calendar date)",
    )
    assert first_present_date(5, "2026-02-20") == (None, "is unreadable (date 5 is not a string)")


def test_first_full_date_falls_through_and_names_the_first_bad_value() -> None:
    assert first_full_date() == (None, None)
    assert first_full_date(None, "2026-02-20") == (FEB20, None)
    assert first_full_date("2026-02", "bad", "2026-02-20") == (
        FEB20,
        "is not a full date ('2026-02', precision month)",
    )
    assert first_full_date("bad", "2026-02") == (
        None,
        "is unreadable (date 'bad' is not a FHIR date or dateTime)",
    )
    assert first_full_date("2026-02-20", "bad") == (FEB20, None)
    assert first_full_date(None, None) == (None, None)


def test_effective_or_issued() -> None:
    issued = "2026-03-01T10:00:00Z"
    assert effective_or_issued(("2026-02-20", None), issued) == (FEB20, [])
    assert effective_or_issued((None, "2026-02-20"), issued) == (FEB20, [])
    assert effective_or_issued((None, None), issued) == (date(2026, 3, 1), [])
    assert effective_or_issued((), None) == (None, [])
    # A partial effective date never falls through to the (later) issued time.
    assert effective_or_issued(("2026-02", None), issued) == (
        None,
        ["effective date is not a full date ('2026-02', precision month)"],
    )
    assert effective_or_issued((None, None), "2026-03") == (
        None,
        ["issued date is not a full date ('2026-03', precision month)"],
    )
    assert effective_or_issued((None,), "junk") == (
        None,
        ["issued date is unreadable (date 'junk' is not a FHIR date or dateTime)"],
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-20T08:30:15+01:00", time(8, 30, 15)),
        ("2026-02-20T08:30:15.250Z", time(8, 30, 15)),
        ("2026-02-20T08:30", time(8, 30)),
        ("2026-02-20T08:30Z", time(8, 30)),
        ("2026-02-20T23:59:59-05:00", time(23, 59, 59)),
        ("2026-02-20T00:00:00Z", time(0, 0)),
        ("2026-02-20T08:30:60Z", None),  # a leap second has no clock time
        ("2026-02-20", None),
        ("2026-02", None),
        ("2026-02-30T08:30:00Z", None),
        ("2026-02-20T24:00:00Z", None),
        ("2026-02-20 08:30:00", None),
        (None, None),
        (20260220, None),
    ],
)
def test_time_of_day_as_written(value: object, expected: time | None) -> None:
    assert time_of_day(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-20T08:30:15Z", time(8, 30, 15)),
        ("2026-02-20T08:30", time(8, 30)),
        ("2026-02-20T08:3", None),
        ("2026-02-20X08:30:15", None),
        ("2026-02-20", None),
        (None, None),
        (1, None),
    ],
)
def test_clock_time_of_an_already_read_value(value: object, expected: time | None) -> None:
    assert clock_time(value) == expected
