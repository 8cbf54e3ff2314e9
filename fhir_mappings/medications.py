"""MedicationRequest / MedicationStatement → MedicationFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, as_list, codes_of, display_of, reference_id
from fhir_mappings.dates import first_full_date
from fhir_mappings.facts import Code, MedicationFact

MEDICATION_TYPES = frozenset({"MedicationRequest", "MedicationStatement"})

_NO_CODES: frozenset[Code] = frozenset()


def _medication_codes(medication: Mapping[str, Any]) -> frozenset[Code]:
    # Ingredient codes count too: a clinical-drug (SCD) code in Medication.code rarely
    # matches an ingredient list, its ingredient does.
    ingredients = [
        concept
        for item in as_list(medication.get("ingredient"))
        if (concept := as_dict(item).get("itemCodeableConcept")) is not None
    ]
    return codes_of(medication.get("code")) | codes_of(ingredients)


def _contained(resource: Mapping[str, Any], local_ref: str) -> Mapping[str, Any] | None:
    for item in as_list(resource.get("contained")):
        item = as_dict(item)
        if item.get("resourceType") == "Medication" and f"#{item.get('id')}" == local_ref:
            return item
    return None


def parse_medication(
    resource: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]]
) -> MedicationFact:
    """`medications` maps references ('Medication/<id>', or a Bundle entry's urn) to the
    Medication resources that came with the record. Never raises: an order whose drug
    cannot be identified keeps empty codes and says why in `problem`."""
    resource = as_dict(resource)
    resource_type = str(resource.get("resourceType"))
    problems: list[str] = []
    rid = resource.get("id")
    ref = f"{resource_type}/{rid}" if type(rid) is str and rid else f"{resource_type}/(no id)"
    if ref.endswith("/(no id)"):
        problems.append("the resource has no id")
    concept = resource.get("medicationCodeableConcept")
    reference = resource.get("medicationReference")
    codes: frozenset[Code] = _NO_CODES
    display: str | None = None
    if concept is not None:
        codes, display = codes_of(concept), display_of(concept)
    elif reference is not None:
        target = reference_id(reference)
        medication: Mapping[str, Any] | None = None
        if target is not None and target.startswith("#"):
            medication = _contained(resource, target)
        elif target is not None:
            medication = medications.get(target)
        display = display_of({"text": as_dict(reference).get("display")})
        if medication is None:
            problems.append(f"its Medication {target or '(no reference)'} could not be resolved")
        else:
            codes = _medication_codes(medication)
            display = display_of(medication.get("code")) or display
    else:
        problems.append("it names no medication (no medicationCodeableConcept or Reference)")
    period = as_dict(resource.get("effectivePeriod"))
    # Alternatives, not a choice: a MedicationStatement's "since 2025" start is common and
    # its dateAsserted is then the best full date.
    when, _ = first_full_date(
        resource.get("authoredOn"),
        resource.get("effectiveDateTime"),
        period.get("start"),
        resource.get("dateAsserted"),
    )
    status, intent = resource.get("status"), resource.get("intent")
    return MedicationFact(
        ref=ref,
        resource_type=resource_type,
        codes=codes,
        status=status if type(status) is str else None,
        intent=intent if type(intent) is str else None,
        date=when,
        display=display,
        problem="; ".join(problems) or None,
    )
