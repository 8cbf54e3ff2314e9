"""Procedure → ProcedureFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, codes_of, display_of
from fhir_mappings.dates import first_full_date
from fhir_mappings.facts import ProcedureFact


def parse_procedure(resource: Mapping[str, Any]) -> ProcedureFact:
    period = as_dict(resource.get("performedPeriod"))
    when, _ = first_full_date(resource.get("performedDateTime"), period.get("start"))
    status = resource.get("status")
    return ProcedureFact(
        ref=f"Procedure/{resource.get('id')}",
        codes=codes_of(resource.get("code")),
        status=status if isinstance(status, str) else None,
        date=when,
        body_sites=codes_of(resource.get("bodySite")),
        display=display_of(resource.get("code")),
    )
