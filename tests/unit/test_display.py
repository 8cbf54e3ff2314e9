"""Values and units as clinicians read them, and data made inert for Markdown."""

from __future__ import annotations

import pytest

from cds_hooks.display import (
    criterion_unit,
    humanize_units,
    markdown_text,
    number_text,
    unit_text,
    value_text,
)
from cds_hooks.eligibility import Engine, Evidence


@pytest.mark.parametrize(
    ("ucum", "shown"),
    [
        ("10*9/L", "×10⁹/L"),
        ("10*3/uL", "×10³/µL"),
        ("10*12/L", "×10¹²/L"),
        ("umol/L", "µmol/L"),
        ("g/dL", "g/dL"),
        ("mL/min", "mL/min"),
        ("{INR}", ""),
        ("{score}", ""),
        ("g/(24.h)", "g/24 h"),
        ("ug/mL", "µg/mL"),
        ("U/L", "U/L"),
        ("mg/dL{creatinine}", "mg/dL"),
        ("furlongs/L", "furlongs/L"),
        (None, ""),
    ],
)
def test_unit_text(ucum: str | None, shown: str) -> None:
    assert unit_text(ucum) == shown


def test_numbers_without_noise() -> None:
    assert [number_text(v) for v in (245.0, 1.5, 2.1000000001, 0.33333, 12.345)] == [
        "245",
        "1.5",
        "2.1",
        "0.333",
        "12.35",
    ]


def test_units_inside_engine_sentences() -> None:
    assert humanize_units("ANC 3.2 10*9/L on 2026-02-20 ≥ 1.5 10*9/L") == (
        "ANC 3.2 ×10⁹/L on 2026-02-20 ≥ 1.5 ×10⁹/L"
    )
    assert humanize_units("INR 1 {INR} on 2026-02-20 ≤ 1.5") == "INR 1 on 2026-02-20 ≤ 1.5"
    assert humanize_units("Creatinine 80 umol/L, ULN 110 umol/L") == (
        "Creatinine 80 µmol/L, ULN 110 µmol/L"
    )
    # Not a unit on its own: left alone.
    assert humanize_units("data absent: Error") == "data absent: Error"


ENGINE = Engine.default()
TRIAL = ENGINE.trials["scrt-capeox-serplulimab-rectal"]


def _value(criterion: str, value: object, unit: str | None) -> str:
    evidence = Evidence("Observation/x", value, unit, "2026-02-20")  # type: ignore[arg-type]
    return value_text(evidence, TRIAL.criterion(criterion), ENGINE.terminology)


def test_the_unit_of_a_criterion_read_several_ways_but_not_of_several_measures() -> None:
    assert criterion_unit(TRIAL.criterion("anc")) == ("10*9/L", "anc")
    assert criterion_unit(TRIAL.criterion("platelets")) == ("10*9/L", "platelets")
    # ANC, platelets and hemoglobin in one criterion: no one unit to show them in.
    neo_field = ENGINE.trials["neo-field-i"]
    assert criterion_unit(neo_field.criterion("blood_counts")) is None
    assert criterion_unit(TRIAL.criterion("total_bilirubin")) is None


def test_values_in_the_criterions_unit_with_the_reported_value_when_converted() -> None:
    assert _value("platelets", 180000.0, "cells/uL") == "180 ×10⁹/L (180000 cells/µL)"
    assert _value("platelets", 180.0, "K/uL") == "180 ×10⁹/L (180 K/µL)"
    assert _value("anc", 3.2, "10*9/L") == "3.2 ×10⁹/L"
    assert _value("albumin", 3.9, "g/dL") == "39 g/L (3.9 g/dL)"
    assert _value("inr", 1.0, "{INR}") == "1"
    # A unit that cannot be converted is shown as reported, never as a number in another unit.
    assert _value("inr", 1.1, "furlongs/L") == "1.1 furlongs/L"
    # One measure read two ways (ANC direct, or from WBC × neutrophils %): in its unit.
    assert _value("anc", 2100.0, "cells/uL") == "2.1 ×10⁹/L (2100 cells/µL)"
    # The neutrophil percentage that went into it is not in that unit: as reported.
    assert _value("anc", 40.0, "%") == "40 %"
    # × ULN criteria are stated in no unit of their own: the reported value.
    assert _value("total_bilirubin", 12.0, "umol/L") == "12 µmol/L"
    assert _value("measurable_lesion", True, None) == "yes"
    assert _value("msi_mmr", "LA14122-8", None) == "LA14122-8"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("*bold* _it_", r"\*bold\* \_it\_"),
        ("[x](javascript:alert(1))", r"\[x\](javascript:alert(1))"),
        ("<script>alert(1)</script>", r"\<script\>alert(1)\</script\>"),
        ("&lt;b&gt;", r"\&lt;b\&gt;"),
        ("`code` | pipe ~strike~", r"\`code\` \| pipe \~strike\~"),
        ("- list", r"\- list"),
        ("# heading", r"\# heading"),
        ("1. ordered", r"1\. ordered"),
        ("3) ordered", r"3\) ordered"),
        ("two\nlines\r\n- item", r"two lines - item"),
        ("back\\slash", r"back\\slash"),
        ("10*9/L", r"10\*9/L"),
    ],
)
def test_markdown_text_escapes_what_markdown_would_interpret(text: str, escaped: str) -> None:
    assert markdown_text(text) == escaped
