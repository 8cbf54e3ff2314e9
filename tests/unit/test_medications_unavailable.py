"""A medication criterion is unknown when any of the three medication searches failed
(orders, statements, administrations): a drug charted only as given must not be missed
because its search did not answer."""

from __future__ import annotations

import pytest

from tests.unit.test_engine_rules import ANTICOAG, record
from tests.unit.test_engine_rules import run as run_28_days
from tests.unit.test_rules_generic import PRIOR_ICI, rec, run


@pytest.mark.parametrize(
    "resource_type", ["MedicationRequest", "MedicationStatement", "MedicationAdministration"]
)
def test_a_failed_medication_search_makes_both_medication_rules_unknown(
    resource_type: str,
) -> None:
    active = run_28_days(ANTICOAG, record(unavailable={resource_type: "HTTP 503"}))
    past = run(PRIOR_ICI, rec(unavailable={resource_type: "HTTP 503"}))
    for result in (active, past):
        assert (result.status, result.reason) == (
            "unknown",
            "Medications could not be retrieved (HTTP 503)",
        )
