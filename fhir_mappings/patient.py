"""Patient → PatientFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings.dates import parse_date
from fhir_mappings.facts import PatientFact


def parse_patient(resource: Mapping[str, Any]) -> PatientFact:
    raw_birth = resource.get("birthDate")
    birth, precision = parse_date(raw_birth)
    gender = resource.get("gender")
    deceased = resource.get("deceasedBoolean") is True or isinstance(
        resource.get("deceasedDateTime"), str
    )
    problem = None
    if raw_birth is not None and birth is None:
        problem = f"birthDate {raw_birth!r} is not a date"
    return PatientFact(
        ref=f"Patient/{resource.get('id')}",
        birth_date=birth,
        birth_date_precision=precision,
        gender=gender if isinstance(gender, str) else None,
        deceased=deceased,
        problem=problem,
    )
