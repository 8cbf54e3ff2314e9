"""AllergyIntolerance → AllergyFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, as_list, codes_of, display_of, known_status
from fhir_mappings.dates import first_full_date
from fhir_mappings.facts import UNREAD_VERIFICATION, AllergyFact, Code

CLINICAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


VERIFICATION_CODES = frozenset(
    {"unconfirmed", "presumed", "confirmed", "refuted", "entered-in-error"}
)
CLINICAL_CODES = frozenset({"active", "inactive", "resolved"})


def parse_allergy(resource: Mapping[str, Any]) -> AllergyFact:
    """Never raises. The substance is `code`, plus every reaction's `substance` (a record
    may name the class in `code` and the exact drug in the reaction)."""
    resource = as_dict(resource)
    problems: list[str] = []
    rid = resource.get("id")
    ref = f"AllergyIntolerance/{rid}" if type(rid) is str and rid else "AllergyIntolerance/(no id)"
    if ref.endswith("(no id)"):
        problems.append("the resource has no id")
    onset_period = as_dict(resource.get("onsetPeriod"))
    when, why = first_full_date(
        resource.get("onsetDateTime"), onset_period.get("start"), resource.get("recordedDate")
    )
    if when is None and why is not None:
        problems.append(f"onset date {why}")
    codes: set[Code] = set(codes_of(resource.get("code")))
    for reaction in as_list(resource.get("reaction")):
        codes |= codes_of(as_dict(reaction).get("substance"))
    code = resource.get("code")
    verification, unread = known_status(
        resource.get("verificationStatus"), VERIFICATION_STATUS_SYSTEM, VERIFICATION_CODES
    )
    clinical_status, _ = known_status(
        resource.get("clinicalStatus"), CLINICAL_STATUS_SYSTEM, CLINICAL_CODES
    )
    return AllergyFact(
        ref=ref,
        codes=frozenset(codes),
        clinical_status=clinical_status,
        verification_status=unread + UNREAD_VERIFICATION if unread else verification,
        date=when,
        display=display_of(code),
        problem="; ".join(problems) or None,
    )
