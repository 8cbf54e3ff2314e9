"""A birth date after the screening day, or one that gives an age no one has lived to
(placeholder dates such as 1850-01-01), is a data error, not an age: the age criterion is
unknown, never "outside the range" nor, for a lower limit only, "met"."""

from __future__ import annotations

from datetime import date

import pytest

from tests.unit.test_engine_rules import AGE, AS_OF, record, run

ADULT = {"type": "age_range", "label": "Age", "min": 18}


@pytest.mark.parametrize("rule", [AGE, ADULT])
def test_a_birth_date_after_the_screening_day_is_unknown(rule: dict[str, object]) -> None:
    born = AS_OF.replace(year=AS_OF.year + 4)
    result = run(rule, record(birth=born))
    assert (result.status, result.reason) == (
        "unknown",
        f"Age: birthDate {born.isoformat()} is after the screening date",
    )


@pytest.mark.parametrize("rule", [AGE, ADULT])
def test_an_age_over_122_is_unknown(rule: dict[str, object]) -> None:
    result = run(rule, record(birth=date(1850, 1, 1)))
    assert (result.status, result.reason) == (
        "unknown",
        "Age: birthDate 1850-01-01 gives an implausible age (over 122)",
    )


def test_ages_up_to_122_and_a_birth_on_the_screening_day_are_read() -> None:
    oldest = AS_OF.replace(year=AS_OF.year - 122)
    assert run(ADULT, record(birth=oldest)).status == "met"
    too_old = AS_OF.replace(year=AS_OF.year - 123)
    assert run(ADULT, record(birth=too_old)).status == "unknown"
    newborn = run(ADULT, record(birth=AS_OF))
    assert (newborn.status, newborn.reason) == ("not_met", "Age 0 is outside ≥ 18")


def test_a_partial_birth_year_in_the_future_is_unknown() -> None:
    result = run(AGE, record(birth=date(AS_OF.year + 1, 1, 1), precision="year"))
    assert result.status == "unknown"
    assert "is after the screening date" in result.reason
