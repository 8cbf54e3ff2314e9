"""Procedure → ProcedureFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, codes_of, display_of
from fhir_mappings.dates import first_present_date
from fhir_mappings.facts import ProcedureFact


def parse_procedure(resource: Mapping[str, Any]) -> ProcedureFact:
    """Never raises; a missing id or an unreadable performed date is named in `problem`."""
    resource = as_dict(resource)
    problems: list[str] = []
    rid = resource.get("id")
    ref = f"Procedure/{rid}" if type(rid) is str and rid else "Procedure/(no id)"
    if ref == "Procedure/(no id)":
        problems.append("the resource has no id")
    period = as_dict(resource.get("performedPeriod"))
    # performed[x] is a choice; a period's start is when the treatment began, its end
    # stands in when only that is known.
    when, why = first_present_date(
        resource.get("performedDateTime"), period.get("start"), period.get("end")
    )
    if why is not None:
        problems.append(f"performed date {why}")
    status = resource.get("status")
    code = resource.get("code")
    return ProcedureFact(
        ref=ref,
        codes=codes_of(code),
        status=status if type(status) is str else None,
        date=when,
        body_sites=codes_of(resource.get("bodySite")),
        display=display_of(code),
        problem="; ".join(problems) or None,
    )
