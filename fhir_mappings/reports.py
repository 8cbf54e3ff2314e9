"""DiagnosticReport → DiagnosticReportFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, as_list, codes_of, display_of, reference_id
from fhir_mappings.dates import effective_or_issued, time_of_day
from fhir_mappings.facts import DiagnosticReportFact


def parse_report(resource: Mapping[str, Any]) -> DiagnosticReportFact:
    """Never raises; a missing id or an unreadable date is named in `problem`.

    The date follows the Observation rule: effective[x] when present (a partial one is a
    problem, not replaced by `issued`, which is later than the study), else `issued`.
    """
    resource = as_dict(resource)
    problems: list[str] = []
    rid = resource.get("id")
    ref = f"DiagnosticReport/{rid}" if type(rid) is str and rid else "DiagnosticReport/(no id)"
    if ref == "DiagnosticReport/(no id)":
        problems.append("the resource has no id")
    period = as_dict(resource.get("effectivePeriod"))
    when, date_problems = effective_or_issued(
        (resource.get("effectiveDateTime"), period.get("start"), period.get("end")),
        resource.get("issued"),
    )
    problems.extend(date_problems)
    conclusion = resource.get("conclusion")
    status = resource.get("status")
    results = tuple(r for r in (reference_id(x) for x in as_list(resource.get("result"))) if r)
    code = resource.get("code")
    return DiagnosticReportFact(
        ref=ref,
        codes=codes_of(code),
        status=status if type(status) is str else None,
        date=when,
        conclusion=conclusion if type(conclusion) is str and conclusion else None,
        conclusion_codes=codes_of(resource.get("conclusionCode")),
        result_refs=results,
        display=display_of(code),
        problem="; ".join(problems) or None,
        time=time_of_day(resource.get("effectiveDateTime") or period.get("start"))
        if when is not None
        else None,
        category=codes_of(resource.get("category")),
    )
