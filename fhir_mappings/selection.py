"""Which Observations the loaded rules read: a set lookup on the raw codings, before any
fact is built.

A real chart holds years of results no criterion asks about (lipids, electrolytes, vital
signs); building a fact for each costs more than screening the ones that matter. An
Observation is read when its code, or a component's code, is in a code set some rule
reads. Anything whose codes cannot be read cheaply is read in full, so a malformed
resource still reaches the parser and is reported, never dropped here.

A long chart also holds years of results a rule does read, of which only the recent ones
can decide: `older_than_windows` tells the record builder which results are older than
every window that reads them (`horizons`, days per code), so that it builds only the few a
search may still name as "the latest, too old".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fhir_mappings._read import canonical_code
from fhir_mappings.dates import parse_date
from fhir_mappings.facts import Code
from fhir_mappings.terminology import CodeSet


@dataclass(frozen=True, slots=True)
class ObservationSelection:
    codes: frozenset[Code]
    # Code sets matching by prefix (hierarchical systems): asked only when the exact set
    # does not settle a code.
    prefixed: tuple[CodeSet, ...] = ()
    # The most days back any rule reads a code's results over; a code not here (or None)
    # is read without such a bound, and its results are always built.
    horizons: Mapping[Code, int | None] = field(default_factory=dict)

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
        codes = self.read_codes(resource)
        return codes is None or bool(codes)

    def read_codes(self, resource: Mapping[str, Any]) -> tuple[Code, ...] | None:
        """The read codes of the Observation's code and components; None when it must be
        read in full whatever they are: a shape that is not plain JSON (the parser must see
        it and say what is wrong), or a code read by prefix."""
        codes: list[Code] = []
        if not self._read_codes(resource.get("code"), codes):
            return None
        components = resource.get("component")
        if components is not None:
            if type(components) is not list:
                return None
            for component in components:
                if type(component) is not dict or not self._read_codes(
                    component.get("code"), codes
                ):
                    return None
        return tuple(codes)

    def older_than_windows(
        self, resource: Mapping[str, Any], codes: tuple[Code, ...], as_of: date
    ) -> date | None:
        """The date of this Observation (whose `read_codes` are `codes`) when it is dated
        before every window that reads any of its codes, as screened on `as_of`; None when
        it is not, or when that cannot be told cheaply (a date that is not a plain full
        effectiveDateTime, a code read without a bound)."""
        effective = resource.get("effectiveDateTime")
        if not codes or type(effective) is not str or "effectivePeriod" in resource:
            return None
        when = parse_date(effective)
        if when.value is None or when.precision != "day":
            return None
        age = (as_of - when.value).days
        horizons = self.horizons
        for code in codes:
            horizon = horizons.get(code)
            # Inside a window of `horizon` days when age <= horizon (both ends inclusive).
            if horizon is None or age <= horizon:
                return None
        return when.value

    def _read_codes(self, concept: Any, into: list[Code]) -> bool:
        """Adds the read codes of this CodeableConcept to `into`; False when its shape is
        not plain JSON, or a code is read by prefix (whose rules' bounds are not kept)."""
        if concept is None:
            return True
        if type(concept) is not dict:
            return False
        codings = concept.get("coding")
        if codings is None:
            return True
        if type(codings) is not list:
            return False
        read = self.codes
        for coding in codings:
            if type(coding) is not dict:
                return False
            system, value = coding.get("system"), coding.get("code")
            if type(system) is not str or type(value) is not str:
                continue  # the parser ignores such a coding too
            code = canonical_code(system, value)
            if code in read:
                into.append(code)
            elif self.prefixed and any(cs.matches_code(code) for cs in self.prefixed):
                return False
        return True
