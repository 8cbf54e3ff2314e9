"""DiagnosticReport → DiagnosticReportFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, as_list, codes_of, display_of, reference_id
from fhir_mappings.dates import first_full_date
from fhir_mappings.facts import DiagnosticReportFact


def parse_report(resource: Mapping[str, Any]) -> DiagnosticReportFact:
    period = as_dict(resource.get("effectivePeriod"))
    when, bad = first_full_date(
        resource.get("effectiveDateTime"), period.get("start"), resource.get("issued")
    )
    conclusion = resource.get("conclusion")
    status = resource.get("status")
    results = tuple(r for r in (reference_id(x) for x in as_list(resource.get("result"))) if r)
    return DiagnosticReportFact(
        ref=f"DiagnosticReport/{resource.get('id')}",
        codes=codes_of(resource.get("code")),
        status=status if isinstance(status, str) else None,
        date=when,
        conclusion=conclusion if isinstance(conclusion, str) else None,
        conclusion_codes=codes_of(resource.get("conclusionCode")),
        result_refs=results,
        display=display_of(as_dict(resource.get("code"))),
        problem="its date is not a full date" if when is None and bad else None,
    )
