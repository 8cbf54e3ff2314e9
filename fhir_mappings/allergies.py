"""AllergyIntolerance → AllergyFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, as_list, codes_of, display_of, known_status
from fhir_mappings.dates import first_full_date
from fhir_mappings.facts import UNREAD_VERIFICATION, AllergyFact, Code
from fhir_mappings.medications import IngredientMap, concept_texts, load_ingredient_map

CLINICAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


VERIFICATION_CODES = frozenset(
    {"unconfirmed", "presumed", "confirmed", "refuted", "entered-in-error"}
)
CLINICAL_CODES = frozenset({"active", "inactive", "resolved"})


def parse_allergy(
    resource: Mapping[str, Any], ingredient_map: IngredientMap | None = None
) -> AllergyFact:
    """Never raises. The substance is `code`, plus every reaction's `substance` (a record
    may name the class in `code` and the exact drug in the reaction). A drug substance is
    read as orders are (`IngredientMap.identify`): a product code gains its ingredient's
    codes, and a name is kept when no code is known."""
    drugs = ingredient_map or load_ingredient_map()
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
    code = resource.get("code")
    codes: set[Code] = set(codes_of(code))
    texts = concept_texts(code)
    for reaction in as_list(resource.get("reaction")):
        substance = as_dict(reaction).get("substance")
        codes |= codes_of(substance)
        texts += concept_texts(substance)
    drug = drugs.identify(frozenset(codes), texts)
    verification, unread = known_status(
        resource.get("verificationStatus"), VERIFICATION_STATUS_SYSTEM, VERIFICATION_CODES
    )
    clinical_status, _ = known_status(
        resource.get("clinicalStatus"), CLINICAL_STATUS_SYSTEM, CLINICAL_CODES
    )
    return AllergyFact(
        ref=ref,
        codes=drug.codes,
        clinical_status=clinical_status,
        verification_status=unread + UNREAD_VERIFICATION if unread else verification,
        date=when,
        display=display_of(code),
        problem="; ".join(problems) or None,
        possible_drugs=drug.possible_drugs,
        possible_codes=drug.possible_codes,
        unplaced=drug.unplaced,
    )
