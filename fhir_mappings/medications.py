"""MedicationRequest / MedicationStatement → MedicationFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, as_list, codes_of, display_of, reference_id
from fhir_mappings.dates import first_full_date
from fhir_mappings.facts import Code, MedicationFact

MEDICATION_TYPES = frozenset({"MedicationRequest", "MedicationStatement"})


def parse_medication(
    resource: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]]
) -> MedicationFact:
    """`medications` maps 'Medication/<id>' to Medication resources found alongside."""
    resource_type = str(resource.get("resourceType"))
    concept: Any = resource.get("medicationCodeableConcept")
    problem = None
    if concept is None and "medicationReference" in resource:
        target = reference_id(resource["medicationReference"])
        medication: Mapping[str, Any] | None = None
        if target and target.startswith("#"):
            medication = next(
                (
                    as_dict(c)
                    for c in as_list(resource.get("contained"))
                    if f"#{as_dict(c).get('id')}" == target
                ),
                None,
            )
        elif target:
            medication = medications.get(target)
        if medication is None:
            problem = "its Medication could not be resolved"
            display = display_of({"text": as_dict(resource["medicationReference"]).get("display")})
            codes: frozenset[Code] = frozenset()
        else:
            concept = medication.get("code")
            # Ingredient codes count too: a clinical-drug code rarely maps to our ingredient list.
            ingredients = [
                as_dict(i).get("itemCodeableConcept") for i in as_list(medication.get("ingredient"))
            ]
            codes = codes_of(concept) | codes_of([i for i in ingredients if i is not None])
            display = display_of(concept)
    else:
        codes = codes_of(concept)
        display = display_of(concept)
    period = as_dict(resource.get("effectivePeriod"))
    when, _ = first_full_date(
        resource.get("authoredOn"),
        resource.get("effectiveDateTime"),
        period.get("start"),
        resource.get("dateAsserted"),
    )
    status, intent = resource.get("status"), resource.get("intent")
    return MedicationFact(
        ref=f"{resource_type}/{resource.get('id')}",
        resource_type=resource_type,
        codes=codes,
        status=status if isinstance(status, str) else None,
        intent=intent if isinstance(intent, str) else None,
        date=when,
        display=display,
        problem=problem,
    )
