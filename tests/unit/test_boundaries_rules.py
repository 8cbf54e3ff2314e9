"""Exact boundaries of the rule families: every threshold tried at, just below and just
above its value, with and without a FHIR comparator whose endpoint equals the threshold,
and every limit of a window or an age range tried on its first and last day."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings._read import UNREAD_APPLIES_TO
from fhir_mappings.facts import (
    SNOMED,
    ObservationFact,
    ObservationValue,
    Quantity,
    ReferenceRange,
)
from tests.unit.test_engine_rules import (
    AGE,
    AGREED,
    ALT,
    ANC,
    ANC_RULE,
    AS_OF,
    HCG_SERUM,
    INTACT,
    LOST,
    MEASURABLE,
    MSI,
    MSI_H,
    MSI_RULE,
    MSS,
    PROTEINS,
    SIZE,
    TBIL,
    TBIL_RULE,
    day,
    obs,
    preg,
    record,
    run,
)

M, N, U = "met", "not_met", "unknown"


# --------------------------------------------------------------------------- lab thresholds
# ANC against 1.5 ×10⁹/L, for each operator: (value, comparator) → status.
LAB_CASES: dict[str, list[tuple[float, str | None, str]]] = {
    ">=": [
        (1.49, None, N),
        (1.5, None, M),
        (1.51, None, M),
        (1.5, "<", N),
        (1.5, "<=", U),
        (1.5, ">", M),
        (1.5, ">=", M),
        (1.49, ">", U),
        (1.51, "<", U),
    ],
    ">": [
        (1.49, None, N),
        (1.5, None, N),
        (1.51, None, M),
        (1.5, "<=", N),
        (1.5, ">", M),
        (1.5, ">=", U),
    ],
    "<=": [
        (1.49, None, M),
        (1.5, None, M),
        (1.51, None, N),
        (1.5, "<", M),
        (1.5, "<=", M),
        (1.5, ">", N),
        (1.5, ">=", U),
    ],
    "<": [
        (1.49, None, M),
        (1.5, None, N),
        (1.51, None, N),
        (1.5, "<", M),
        (1.5, "<=", U),
        (1.5, ">=", N),
    ],
}


@pytest.mark.parametrize(
    ("op", "value", "comparator", "expected"),
    [(op, *case) for op, cases in LAB_CASES.items() for case in cases],
)
def test_lab_threshold_at_the_boundary(
    op: str, value: float, comparator: str | None, expected: str
) -> None:
    fact = obs(ANC, q=value, unit="10*9/L", comparator=comparator)
    result = run({**ANC_RULE, "op": op}, record(fact))
    assert result.status == expected
    assert result.evidence[0].reference == fact.ref
    if comparator:
        assert result.evidence[0].note == f"reported as {comparator}{value:g}"


def test_lab_threshold_reasons_name_the_operator_and_the_limit() -> None:
    met = run(ANC_RULE, record(obs(ANC, q=1.5, unit="10*9/L")))
    assert met.reason == f"ANC 1.5 10*9/L on {day(1).isoformat()} ≥ 1.5 10*9/L"
    below = run({**ANC_RULE, "op": ">"}, record(obs(ANC, q=1.5, unit="10*9/L")))
    assert below.reason == f"ANC 1.5 10*9/L on {day(1).isoformat()} is ≤ 1.5 10*9/L"
    open_ended = run(ANC_RULE, record(obs(ANC, q=1.5, unit="10*9/L", comparator="<=")))
    assert open_ended.reason == (
        f"ANC <=1.5 10*9/L on {day(1).isoformat()} cannot be compared with 1.5 10*9/L"
    )


def test_a_converted_lab_is_compared_at_the_precision_it_was_reported() -> None:
    # 1500 /µL is 1.5 ×10⁹/L exactly; the note gives the converted value.
    fact = obs(ANC, q=1500, unit="/uL")
    result = run(ANC_RULE, record(fact))
    assert result.status == M
    assert result.evidence[0].note == "= 1.5 10*9/L"
    assert (result.evidence[0].value, result.evidence[0].unit) == (1500, "/uL")


@pytest.mark.parametrize(("days", "expected"), [(28, M), (29, U)])
def test_lab_on_the_first_and_just_before_the_first_day_of_the_window(
    days: int, expected: str
) -> None:
    fact = obs(ANC, q=2.0, unit="10*9/L", days=days)
    result = run(ANC_RULE, record(fact), lookback=28)
    assert result.status == expected
    if expected == U:
        assert result.reason == (
            f"ANC: no result in the last 28 days; latest {day(29).isoformat()} "
            f"({fact.ref}), 29 days old"
        )


def test_a_result_dated_after_the_screening_date_does_not_count() -> None:
    later, nearest = (obs(ANC, q=2.0, unit="10*9/L", days=d) for d in (-5, -1))
    result = run(ANC_RULE, record(later, nearest))
    assert result.status == U
    # Named, so a result the chart shows is not silently missing from the reason.
    assert result.reason == (
        f"ANC: no result in the last 28 days; {nearest.ref} of {nearest.date} is dated "
        f"after the screening date ({AS_OF}) and does not count"
    )


# --------------------------------------------------------------------------- × ULN
def alt(value: float, comparator: str | None = None, **ranges: Any) -> ObservationFact:
    return obs(ALT, q=value, unit="U/L", comparator=comparator, **ranges)


ALT_RULE = {**TBIL_RULE, "label": "ALT", "code_set": "alt", "max_multiple": 3, "limit": "alt"}


@pytest.mark.parametrize(
    ("value", "comparator", "expected"),
    [
        (120, None, M),  # exactly 3 × 40
        (119.9, None, M),
        (120.1, None, N),
        (120, ">", N),  # ">120 U/L" is above the limit whatever it is
        (120, ">=", U),
        (120, "<", M),
        (120, "<=", M),
        (121, "<", U),
        (119, ">", U),
    ],
)
def test_uln_multiple_at_the_boundary(value: float, comparator: str | None, expected: str) -> None:
    result = run(ALT_RULE, record(alt(value, comparator, high=40)))
    assert result.status == expected
    source = "ULN 40 U/L from the Observation's referenceRange"
    reported = f"reported as {comparator}{value:g}; " if comparator else ""
    assert result.evidence[0].note == reported + source


def test_uln_reasons_give_the_ratio_only_for_plain_values() -> None:
    plain = run(ALT_RULE, record(alt(120, high=40)))
    assert plain.reason == (
        f"ALT 120 U/L on {day(1).isoformat()} (3× ULN) ≤ 3× ULN; "
        "ULN 40 U/L from the Observation's referenceRange"
    )
    above = run(ALT_RULE, record(alt(120, ">", high=40)))
    assert above.reason.startswith(f"ALT >120 U/L on {day(1).isoformat()} (vs ULN) is > 3× ULN")
    unclear = run(ALT_RULE, record(alt(121, "<", high=40)))
    assert unclear.reason.startswith(
        f"ALT <121 U/L on {day(1).isoformat()} cannot be compared with 3× ULN"
    )


@pytest.mark.parametrize(
    ("value", "comparator", "expected"),
    [(0.5, "<", M), (1.8, None, M), (1.81, None, N), (1.8, "<", M), (2.0, "<", U)],
)
def test_bilirubin_with_the_default_uln_at_the_boundary(
    value: float, comparator: str | None, expected: str
) -> None:
    # No range on the result: default ULN 1.2 mg/dL, limit 1.5 × 1.2 = 1.8.
    result = run(TBIL_RULE, record(obs(TBIL, q=value, unit="mg/dL", comparator=comparator)))
    assert result.status == expected
    assert result.evidence[0].note is not None
    reported = f"reported as {comparator}{value:g}; " if comparator else ""
    assert result.evidence[0].note.startswith(reported + "default ULN 1.2 mg/dL")


MALE = frozenset({(SNOMED, "248153007")})
FEMALE = frozenset({(SNOMED, "248152002")})
ADMIN_FEMALE = frozenset({("http://hl7.org/fhir/administrative-gender", "female")})


def ranged(*ranges: ReferenceRange, value: float = 100) -> ObservationFact:
    return ObservationFact(
        ref="Observation/alt",
        codes=frozenset({ALT}),
        status="final",
        date=day(2),
        value=ObservationValue(quantity=Quantity(value, "U/L")),
        reference_ranges=ranges,
    )


def high(value: float, applies_to: frozenset[Any] = frozenset()) -> ReferenceRange:
    return ReferenceRange(high=Quantity(value, "U/L"), applies_to=applies_to)


@pytest.mark.parametrize(
    ("ranges", "gender", "uln"),
    [
        # The patient's own sex first, whatever the order of the ranges.
        ((high(30, FEMALE), high(45, MALE)), "male", 45),
        ((high(45, MALE), high(30, FEMALE)), "female", 30),
        ((high(30, ADMIN_FEMALE), high(45, MALE)), "female", 30),
        # A range for everyone when none is for the patient's sex.
        ((high(45, MALE), high(35)), "female", 35),
        ((high(35), high(45, MALE)), "male", 45),
        ((high(35), high(45, MALE)), "unknown", 35),
        ((high(35), high(45, MALE)), None, 35),
    ],
)
def test_the_sex_specific_range_is_the_one_used(
    ranges: tuple[ReferenceRange, ...], gender: str | None, uln: float
) -> None:
    # 3 × ULN against a value exactly at the chosen limit: met only with that ULN.
    result = run(ALT_RULE, record(ranged(*ranges, value=3 * uln), gender=gender))
    assert result.status == M
    assert result.evidence[0].note == f"ULN {uln:g} U/L from the Observation's referenceRange"
    above = run(ALT_RULE, record(ranged(*ranges, value=3 * uln + 0.5), gender=gender))
    assert above.status == N


@pytest.mark.parametrize("gender", ["female", "unknown", None])
def test_only_other_sex_ranges_leave_the_uln_unknown(gender: str | None) -> None:
    result = run(ALT_RULE, record(ranged(high(45, MALE), value=10), gender=gender))
    assert result.status == U
    assert (
        "ULN unknown: the result's reference range has no upper limit for sex "
        f"{gender or 'unknown'}" in result.reason
    )


def test_a_range_for_a_population_we_cannot_read_is_not_a_range_for_everyone() -> None:
    # appliesTo "pregnant women" in text only: not the patient's range, nor everyone's.
    unread = frozenset({(UNREAD_APPLIES_TO, "Schwangere")})
    result = run(ALT_RULE, record(ranged(high(60, unread), value=10), gender="female"))
    assert result.status == U
    assert "ULN unknown" in result.reason
    # Beside a range for everyone, that one is used.
    both = run(ALT_RULE, record(ranged(high(60, unread), high(35), value=3 * 35)))
    assert both.status == M
    assert both.evidence[0].note == "ULN 35 U/L from the Observation's referenceRange"


def test_a_range_without_a_high_limit_is_not_replaced_by_the_default() -> None:
    low_only = ReferenceRange(low=Quantity(7, "U/L"))
    result = run(ALT_RULE, record(ranged(low_only, value=10)))
    assert result.status == U
    assert "ULN unknown" in result.reason


def test_a_range_in_no_unit_is_read_in_the_unit_of_the_value() -> None:
    fact = ranged(ReferenceRange(high=Quantity(40, None)), value=120)
    result = run(ALT_RULE, record(fact))
    assert result.status == M
    assert result.evidence[0].note == (
        "ULN 40 U/L from the Observation's referenceRange (range unit assumed same as the value)"
    )


# --------------------------------------------------------------------------- age
@pytest.mark.parametrize(
    ("birth", "expected", "age"),
    [
        (date(2008, 3, 2), M, 18),  # 18th birthday on the screening date
        (date(2008, 3, 3), N, 17),  # 18 tomorrow
        (date(1950, 3, 3), M, 75),  # last day of being 75
        (date(1950, 3, 2), N, 76),  # 76th birthday on the screening date
    ],
)
def test_age_range_on_the_birthdays_at_both_limits(birth: date, expected: str, age: int) -> None:
    result = run(AGE, record(birth=birth))
    assert (result.status, result.evidence[0].value) == (expected, age)
    if expected == M:
        assert result.reason == f"Age {age}, within 18–75"
    else:
        assert result.reason == f"Age {age} is outside 18–75"


@pytest.mark.parametrize(
    ("birth", "expected"),
    [(date(2008, 3, 2), M), (date(2008, 3, 3), N), (date(1920, 1, 1), M)],
)
def test_age_without_an_upper_limit(birth: date, expected: str) -> None:
    result = run({**AGE, "max": None}, record(birth=birth))
    assert result.status == expected
    assert result.reason.endswith("≥ 18")


@pytest.mark.parametrize(
    ("birth", "precision", "expected", "shown"),
    [
        # Born in March 2008: 17 (born 3–31 March) or 18 (born 1–2 March).
        (date(2008, 3, 1), "month", U, "17–18"),
        (date(2008, 2, 1), "month", M, "18"),
        (date(2008, 4, 1), "month", N, "17"),
        # Born some day in 2008: 17 or 18.
        (date(2008, 1, 1), "year", U, "17–18"),
        (date(2007, 1, 1), "year", M, "18–19"),
        (date(1950, 1, 1), "year", U, "75–76"),
        (date(1949, 1, 1), "year", N, "76–77"),
    ],
)
def test_partial_birth_dates_at_the_limits(
    birth: date, precision: str, expected: str, shown: str
) -> None:
    result = run(AGE, record(birth=birth, precision=precision))
    assert result.status == expected
    assert str(result.evidence[0].value) == shown


# --------------------------------------------------------------------------- lesion size
@pytest.mark.parametrize(
    ("value", "unit", "comparator", "expected"),
    [
        (10, "mm", None, M),  # exactly the RECIST minimum
        (9.9, "mm", None, U),
        (1.0, "cm", None, M),
        (0.99, "cm", None, U),
        # An open-ended size is not a measurement: it is not used, and nothing else is.
        (10, "cm", ">", U),
        (5, "mm", "<", U),
    ],
)
def test_lesion_size_at_the_recist_minimum(
    value: float, unit: str, comparator: str | None, expected: str
) -> None:
    fact = obs(SIZE, q=value, unit=unit, comparator=comparator)
    result = run(MEASURABLE, record(fact), lookback=90)
    assert result.status == expected
    if comparator is None:
        assert result.evidence[0].reference == fact.ref
    else:
        assert result.reason == "No RECIST assessment or tumour size in the last 90 days"


def test_the_largest_lesion_in_the_window_decides() -> None:
    sizes = [obs(SIZE, q=q, unit="mm", days=d) for q, d in ((8, 5), (12, 40), (30, 120))]
    result = run(MEASURABLE, record(*sizes), lookback=90)
    assert result.status == M
    assert result.reason == f"Lesion of 12 mm on {day(40).isoformat()} (≥ 10 mm)"
    small = run(MEASURABLE, record(sizes[0]), lookback=90)
    assert small.reason == (
        "Largest recorded lesion 8 mm (< 10 mm); measurability needs a radiologist"
    )


# --------------------------------------------------------------------------- hCG
@pytest.mark.parametrize(
    ("value", "comparator", "expected"),
    [
        (4.9, None, M),
        (5, None, U),  # the negative cut-off is "below 5"
        (5, "<", M),
        (5, "<=", U),
        (24.9, None, U),
        (25, None, N),  # the positive cut-off is "from 25"
        (25, ">", N),
        (25, ">=", N),
        (25, "<", U),
        (24, ">", U),
    ],
)
def test_quantitative_hcg_at_its_own_cut_offs(
    value: float, comparator: str | None, expected: str
) -> None:
    hcg = obs(HCG_SERUM, q=value, unit="m[IU]/mL", comparator=comparator, days=2)
    result = preg(hcg, obs(AGREED, boolean=True))
    assert result.status == expected
    if expected == U:
        assert "is indeterminate (5–25 m[IU]/mL)" in result.reason
    if expected == N:
        assert result.reason == f"Positive pregnancy test on {day(2).isoformat()}"


def test_hcg_in_another_unit_is_converted_before_the_cut_offs() -> None:
    # 4.9 IU/L = 4.9 mIU/mL: negative.
    hcg = obs(HCG_SERUM, q=4.9, unit="[IU]/L", days=2)
    assert preg(hcg, obs(AGREED, boolean=True)).status == M


@pytest.mark.parametrize(("days", "expected"), [(7, M), (8, U)])
def test_hcg_on_the_last_day_of_its_own_seven_day_window(days: int, expected: str) -> None:
    hcg = obs(HCG_SERUM, q=2, unit="m[IU]/mL", days=days)
    assert preg(hcg, obs(AGREED, boolean=True)).status == expected


# --------------------------------------------------------------------------- MSI / MMR
INDETERMINATE = ("http://loinc.org", "LA11884-6")


def test_an_indeterminate_msi_is_not_stable() -> None:
    result = run(MSI_RULE, record(obs(MSI, coded=INDETERMINATE)))
    assert result.status == U
    assert result.reason.startswith(f"MSI result on {day(1).isoformat()} is indeterminate")


def test_an_indeterminate_msi_with_all_proteins_intact_is_pmmr() -> None:
    intact = [obs(p, coded=INTACT) for p in PROTEINS]
    result = run(MSI_RULE, record(obs(MSI, coded=INDETERMINATE), *intact))
    assert result.status == M
    assert result.reason == "pMMR: MLH1, MSH2, MSH6 and PMS2 expression retained"


def test_msi_high_and_a_lost_protein_are_both_named() -> None:
    result = run(MSI_RULE, record(obs(MSI, coded=MSI_H), obs(PROTEINS[3], coded=LOST)))
    assert result.status == N
    assert result.reason == (f"MSI-high on {day(1).isoformat()}; loss of PMS2 expression (dMMR)")


def test_mss_outside_the_window_does_not_count() -> None:
    fact = obs(MSI, coded=MSS, days=29)
    result = run(MSI_RULE, record(fact), lookback=28)
    assert result.status == U
    # The result on record is named, with why it does not count.
    assert result.reason == (
        "No usable MSI or MMR result: MSI no result in the last 28 days; latest "
        f"{fact.date} ({fact.ref}), 29 days old"
    )
    assert run(MSI_RULE, record(), lookback=28).reason == "No MSI or MMR result on record"


def test_as_of_is_the_screening_date() -> None:
    assert date(2026, 3, 2) == AS_OF
