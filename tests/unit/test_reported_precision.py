"""A converted lab value is compared at the precision the lab reported: 6.2 mmol/L
haemoglobin (two significant digits) is 10 g/dL, not 9.99, so it meets "Hb ≥ 10 g/dL";
the same number reported with three digits, or with none known, does not."""

from __future__ import annotations

import dataclasses

import pytest

from fhir_mappings.facts import ObservationFact, Quantity
from tests.unit.test_engine_rules import ANC_RULE, HB, obs, record, run

HB_RULE = {**ANC_RULE, "label": "Hb", "code_set": "hemoglobin", "value": 10.0, "unit": "g/dL"}


def haemoglobin(value: float, precision: int | None) -> ObservationFact:
    fact = obs(HB, q=value, unit="mmol/L")
    reported = Quantity(value, "mmol/L", None, precision)
    return dataclasses.replace(fact, value=dataclasses.replace(fact.value, quantity=reported))


@pytest.mark.parametrize(("precision", "status"), [(2, "met"), (3, "not_met"), (None, "not_met")])
def test_a_converted_value_is_compared_at_the_reported_precision(
    precision: int | None, status: str
) -> None:
    result = run(HB_RULE, record(haemoglobin(6.2, precision)))
    assert result.status == status
    assert (result.evidence[0].value, result.evidence[0].unit) == (6.2, "mmol/L")
