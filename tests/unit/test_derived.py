"""Age and Cockcroft-Gault, against values computed by hand."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.derived import age_in_years, cockcroft_gault


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(1968, 5, 14), date(2026, 3, 2), 57),  # birthday later in the year
        (date(1968, 3, 2), date(2026, 3, 2), 58),  # on the birthday
        (date(1968, 3, 3), date(2026, 3, 2), 57),  # the day before
        (date(1950, 12, 31), date(2026, 1, 1), 75),
        (date(2008, 2, 29), date(2026, 2, 28), 17),  # leap-day birthday, common year
        (date(2008, 2, 29), date(2026, 3, 1), 18),  # ... reached on 1 March
        (date(2008, 2, 29), date(2028, 2, 29), 20),  # ... and on 29 February in leap years
        (date(2026, 3, 2), date(2026, 3, 2), 0),
        (date(2026, 12, 31), date(2026, 3, 2), -1),  # after the date: negative, no error
    ],
)
def test_age_in_completed_years(birth: date, on: date, age: int) -> None:
    assert age_in_years(birth, on) == age


@pytest.mark.parametrize(
    ("age", "sex", "kg", "scr", "expected"),
    [
        # (140 − 60) × 70 / (72 × 1.0) = 5600 / 72 = 77.78; × 0.85 = 66.11 mL/min.
        (60, "female", 70.0, 1.0, 66.11),
        (60, "male", 70.0, 1.0, 77.78),
        # (140 − 75) × 58 / (72 × 1.4) = 3770 / 100.8 = 37.40; × 0.85 = 31.79.
        (75, "female", 58.0, 1.4, 31.79),
        # (140 − 18) × 95.5 / (72 × 0.6) = 11651 / 43.2 = 269.70.
        (18, "male", 95.5, 0.6, 269.70),
    ],
)
def test_cockcroft_gault_by_hand(
    age: int, sex: str, kg: float, scr: float, expected: float
) -> None:
    assert cockcroft_gault(age, sex, kg, scr) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    ("age", "sex", "kg", "scr", "message"),
    [
        (0, "male", 70.0, 1.0, "age"),
        (60, "male", 0.0, 1.0, "weight"),
        (60, "male", -70.0, 1.0, "weight"),
        (60, "male", 70.0, 0.0, "creatinine"),
        (60, "male", 70.0, float("nan"), "creatinine"),
        (60, "male", float("inf"), 1.0, "weight"),
        (140, "male", 70.0, 1.0, "outside"),
        (60, "unknown", 70.0, 1.0, "sex"),
        (60, "", 70.0, 1.0, "sex"),
    ],
)
def test_cockcroft_gault_refuses_meaningless_inputs(
    age: int, sex: str, kg: float, scr: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        cockcroft_gault(age, sex, kg, scr)
