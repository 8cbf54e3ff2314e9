"""Observation → ObservationFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import (
    BadValue,
    as_dict,
    as_list,
    codes_of,
    display_of,
    quantity,
    reference_ranges,
)
from fhir_mappings.dates import first_full_date
from fhir_mappings.facts import ObservationComponent, ObservationFact, ObservationValue


def _value(raw: Mapping[str, Any]) -> ObservationValue:
    """value[x] of an Observation or component; raises BadValue when present but unusable."""
    absent = raw.get("dataAbsentReason")
    absent_code = None
    if absent is not None:
        absent_code = display_of(absent) or "data absent"
    if "valueQuantity" in raw:
        return ObservationValue(
            quantity=quantity(raw["valueQuantity"]), data_absent_reason=absent_code
        )
    if "valueCodeableConcept" in raw:
        concept = raw["valueCodeableConcept"]
        text = as_dict(concept).get("text")
        return ObservationValue(
            codes=codes_of(concept),
            text=text if isinstance(text, str) else None,
            data_absent_reason=absent_code,
        )
    if "valueInteger" in raw:
        value = raw["valueInteger"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue(f"valueInteger {value!r} is not an integer")
        return ObservationValue(integer=value, data_absent_reason=absent_code)
    if "valueBoolean" in raw:
        value = raw["valueBoolean"]
        if not isinstance(value, bool):
            raise BadValue(f"valueBoolean {value!r} is not a boolean")
        return ObservationValue(boolean=value, data_absent_reason=absent_code)
    if "valueString" in raw:
        value = raw["valueString"]
        return ObservationValue(
            text=value if isinstance(value, str) else None, data_absent_reason=absent_code
        )
    return ObservationValue(data_absent_reason=absent_code)


def parse_observation(resource: Mapping[str, Any]) -> ObservationFact:
    ref = f"Observation/{resource.get('id')}"
    problems: list[str] = []
    effective_period = as_dict(resource.get("effectivePeriod"))
    when, bad_date = first_full_date(
        resource.get("effectiveDateTime"),
        resource.get("effectiveInstant"),
        effective_period.get("start"),
        effective_period.get("end"),
        resource.get("issued"),
    )
    if when is None and bad_date:
        problems.append("its date is not a full date")
    try:
        value = _value(resource)
    except BadValue as exc:
        problems.append(str(exc))
        value = ObservationValue()
    components = []
    for raw in as_list(resource.get("component")):
        raw = as_dict(raw)
        try:
            component_value = _value(raw)
        except BadValue as exc:
            problems.append(f"component: {exc}")
            component_value = ObservationValue()
        components.append(
            ObservationComponent(
                codes=codes_of(raw.get("code")),
                value=component_value,
                reference_ranges=reference_ranges(raw.get("referenceRange")),
            )
        )
    status = resource.get("status")
    return ObservationFact(
        ref=ref,
        codes=codes_of(resource.get("code")),
        status=status if isinstance(status, str) else None,
        date=when,
        value=value,
        reference_ranges=reference_ranges(resource.get("referenceRange")),
        components=tuple(components),
        interpretation=codes_of(resource.get("interpretation")),
        display=display_of(resource.get("code")),
        problem="; ".join(problems) or None,
    )
