"""Which Observations the loaded rules read: a set lookup on the raw codings, before any
fact is built.

A real chart holds years of results no criterion asks about (lipids, electrolytes, vital
signs); building a fact for each costs more than screening the ones that matter. An
Observation is read when its code, or a component's code, is in a code set some rule
reads. Anything whose codes cannot be read cheaply is read in full, so a malformed
resource still reaches the parser and is reported, never dropped here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_mappings._read import canonical_code
from fhir_mappings.facts import Code
from fhir_mappings.terminology import CodeSet


@dataclass(frozen=True, slots=True)
class ObservationSelection:
    codes: frozenset[Code]
    # Code sets matching by prefix (hierarchical systems): asked only when the exact set
    # does not settle a code.
    prefixed: tuple[CodeSet, ...] = ()

    @classmethod
    def of(cls, code_sets: Iterable[CodeSet]) -> ObservationSelection:
        sets = list(code_sets)
        return cls(
            frozenset(code for cs in sets for code in cs.codes),
            tuple(cs for cs in sets if cs.code_prefixes),
        )

    def reads(self, resource: Mapping[str, Any]) -> bool:
        """False only when every coding of the Observation's code and components is
        readable and none is in a read code set."""
        if self._concept_read(resource.get("code")):
            return True
        components = resource.get("component")
        if components is None:
            return False
        if type(components) is not list:
            return True
        for component in components:
            if type(component) is not dict or self._concept_read(component.get("code")):
                return True
        return False

    def _concept_read(self, concept: Any) -> bool:
        """True when a coding of this CodeableConcept is read, or when its shape is not
        plain JSON (then the parser must see it and say what is wrong)."""
        if concept is None:
            return False
        if type(concept) is not dict:
            return True
        codings = concept.get("coding")
        if codings is None:
            return False
        if type(codings) is not list:
            return True
        codes = self.codes
        for coding in codings:
            if type(coding) is not dict:
                return True
            system, value = coding.get("system"), coding.get("code")
            if type(system) is not str or type(value) is not str:
                continue  # the parser ignores such a coding too
            code = canonical_code(system, value)
            if code in codes:
                return True
            if self.prefixed and any(cs.matches_code(code) for cs in self.prefixed):
                return True
        return False
