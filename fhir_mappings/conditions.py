"""Condition → ConditionFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, as_list, codes_of, display_of, first_code
from fhir_mappings.dates import first_full_date
from fhir_mappings.facts import ConditionFact

HISTOLOGY_EXTENSION = (
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
)


def parse_condition(resource: Mapping[str, Any]) -> ConditionFact:
    onset_period = as_dict(resource.get("onsetPeriod"))
    when, bad_date = first_full_date(
        resource.get("onsetDateTime"), onset_period.get("start"), resource.get("recordedDate")
    )
    histology: set[tuple[str, str]] = set()
    for extension in as_list(resource.get("extension")):
        extension = as_dict(extension)
        if extension.get("url") == HISTOLOGY_EXTENSION:
            histology |= codes_of(extension.get("valueCodeableConcept"))
    profiles = frozenset(
        p for p in as_list(as_dict(resource.get("meta")).get("profile")) if isinstance(p, str)
    )
    return ConditionFact(
        ref=f"Condition/{resource.get('id')}",
        codes=codes_of(resource.get("code")),
        clinical_status=first_code(resource.get("clinicalStatus")),
        verification_status=first_code(resource.get("verificationStatus")),
        date=when,
        body_sites=codes_of(resource.get("bodySite")),
        histology=frozenset(histology),
        profiles=profiles,
        category=codes_of(resource.get("category")),
        display=display_of(resource.get("code")),
        problem="its onset date is not a full date" if when is None and bad_date else None,
    )
