"""The "not deceased" exclusion every trial carries, checked whole through the engine."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.eligibility.results import Evidence
from fhir_mappings.record import build_record

ENGINE = Engine.default()
AS_OF = date(2026, 3, 2)


def deceased(**fields: Any) -> tuple[str, str, tuple[Evidence, ...]]:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01", **fields}
    result = ENGINE.screen(build_record([patient]), AS_OF)
    outcomes = {t.trial: t.criterion("deceased") for t in result.trials}
    assert len(outcomes) == len(ENGINE.trials)  # every trial carries it
    first = next(iter(outcomes.values()))
    assert all(o == first for o in outcomes.values())
    return first.status, first.reason, first.evidence


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"deceasedDateTime": "2026-02-27T06:40:00+01:00"},
            (
                "met",
                "Patient deceased: death recorded on 2026-02-27",
                (Evidence("Patient/p1", "deceased", None, "2026-02-27", "deceasedDateTime"),),
            ),
        ),
        (
            {"deceasedDateTime": "2026-03-02"},  # the screening day itself
            (
                "met",
                "Patient deceased: death recorded on 2026-03-02",
                (Evidence("Patient/p1", "deceased", None, "2026-03-02", "deceasedDateTime"),),
            ),
        ),
        (
            {"deceasedBoolean": True},
            (
                "met",
                "Patient deceased: the Patient resource records a death (no readable date)",
                (Evidence("Patient/p1", "deceased", None, "2026-03-02", "Patient.deceased[x]"),),
            ),
        ),
        (
            {"deceasedDateTime": "27.02.2026"},
            (
                "met",
                "Patient deceased: the Patient resource records a death (no readable date)",
                (Evidence("Patient/p1", "deceased", None, "2026-03-02", "Patient.deceased[x]"),),
            ),
        ),
        (
            {"deceasedDateTime": "2026-03-03"},
            (
                "unknown",
                "Patient deceased: death recorded on 2026-03-03, after the screening date",
                (Evidence("Patient/p1", "deceased", None, "2026-03-03", "deceasedDateTime"),),
            ),
        ),
        (
            {"deceasedBoolean": "true"},
            ("unknown", "Patient deceased: deceasedBoolean 'true' is not a boolean", ()),
        ),
        (
            {},
            (
                "not_met",
                "Patient deceased: no death recorded on the Patient resource",
                (
                    Evidence(
                        "Patient/p1",
                        None,
                        None,
                        "2026-03-02",
                        "Patient.deceased[x] absent or false",
                    ),
                ),
            ),
        ),
        (
            {"deceasedBoolean": False},
            (
                "not_met",
                "Patient deceased: no death recorded on the Patient resource",
                (
                    Evidence(
                        "Patient/p1",
                        None,
                        None,
                        "2026-03-02",
                        "Patient.deceased[x] absent or false",
                    ),
                ),
            ),
        ),
    ],
)
def test_a_recorded_death_excludes_and_an_unreadable_one_is_unknown(
    fields: dict[str, Any], expected: tuple[str, str, tuple[Evidence, ...]]
) -> None:
    assert deceased(**fields) == expected
