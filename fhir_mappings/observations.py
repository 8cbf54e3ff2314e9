"""Observation → ObservationFact.

Never raises on odd input: whatever cannot be read is named in `problem`, and the engine
then treats the result as unusable (with that reason) instead of guessing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import (
    BadValue,
    as_dict,
    as_list,
    codes_of,
    display_of,
    first_code,
    modifier_extensions,
    number_text,
    quantity,
    reference_ranges,
    short_repr,
)
from fhir_mappings.dates import clock_time, effective_or_issued, parse_date, time_of_day
from fhir_mappings.facts import ObservationComponent, ObservationFact, ObservationValue

# value[x] types that eligibility has no reading for; present, they make the value unusable
# (named in `problem`) rather than silently empty.
_UNREAD_VALUES = (
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
)


def _value(raw: Mapping[str, Any]) -> ObservationValue:
    """value[x] of an Observation or component; raises BadValue when present but unusable."""
    absent = raw.get("dataAbsentReason")
    absent_reason = None
    if absent is not None:
        # Text/display first: it ends up in the reason a clinician reads.
        absent_reason = display_of(absent) or first_code(absent) or "data absent"
    if "valueQuantity" in raw:
        if raw["valueQuantity"] is None:
            # JSON null is not FHIR; a reader that took it for "no value" would hide it.
            raise BadValue("valueQuantity is null")
        found = quantity(raw["valueQuantity"])
        if found is not None and not math.isfinite(found.value):
            raise BadValue(f"quantity value {found.value!r} is not a finite number")
        return ObservationValue(quantity=found, data_absent_reason=absent_reason)
    if "valueCodeableConcept" in raw:
        concept = as_dict(raw["valueCodeableConcept"])
        text = concept.get("text")
        codes = codes_of(concept)
        text = text if type(text) is str and text else None
        if not codes and text is None:
            raise BadValue("valueCodeableConcept has neither a coding nor text")
        return ObservationValue(codes=codes, text=text, data_absent_reason=absent_reason)
    if "valueInteger" in raw:
        value = raw["valueInteger"]
        if type(value) is not int:
            # JSON 2.0 (a float) is not an integer either: an ECOG of 1.5 must not read as 1.
            raise BadValue(f"valueInteger {short_repr(value)} is not an integer")
        return ObservationValue(integer=value, data_absent_reason=absent_reason)
    if "valueBoolean" in raw:
        value = raw["valueBoolean"]
        if type(value) is not bool:
            # "false" as a string would be truthy in a careless reader.
            raise BadValue(f"valueBoolean {short_repr(value)} is not a boolean")
        return ObservationValue(boolean=value, data_absent_reason=absent_reason)
    if "valueString" in raw:
        value = raw["valueString"]
        if type(value) is not str:
            raise BadValue(f"valueString {short_repr(value)} is not a string")
        # Labs often send numbers as text ("1.1", "<0.3", ">1000"): read them as a
        # quantity (with its comparator, and no unit unless the text names one).
        return ObservationValue(
            quantity=number_text(value), text=value, data_absent_reason=absent_reason
        )
    for key in _UNREAD_VALUES:
        if key in raw:
            raise BadValue(f"{key} is not a value type eligibility reads")
    return ObservationValue(data_absent_reason=absent_reason)


def parse_observation(resource: Mapping[str, Any]) -> ObservationFact:
    resource = as_dict(resource)
    problems: list[str] = []
    rid = resource.get("id")
    if type(rid) is str and rid:
        ref = f"Observation/{rid}"
    else:
        ref = "Observation/(no id)"
        problems.append("the resource has no id")

    # effective[x] is a choice: the one element present decides the date, and a partial
    # one ("2026-02") is not replaced by `issued`, which is later than the sample was taken
    # and would make the result look more recent than it is. Only without any effective[x]
    # does `issued` (the release time) stand in.
    period = as_dict(resource.get("effectivePeriod"))
    effective = resource.get("effectiveDateTime")
    parsed = parse_date(effective) if effective is not None else None
    if parsed is not None and parsed.precision == "day":
        when = parsed.value  # the usual case: a full effectiveDateTime decides alone
    else:
        when, date_problems = effective_or_issued(
            (effective, period.get("start"), period.get("end"), resource.get("effectiveInstant")),
            resource.get("issued"),
        )
        problems.extend(date_problems)

    if modifiers := modifier_extensions(resource):
        problems.append(f"a modifier extension changes its meaning ({modifiers[0]})")
    try:
        value = _value(resource)
    except BadValue as exc:
        problems.append(str(exc))
        value = ObservationValue()
    components = []
    for raw in as_list(resource.get("component")):
        raw = as_dict(raw)
        if modifiers := modifier_extensions(raw):
            problems.append(f"component: a modifier extension changes its meaning ({modifiers[0]})")
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
    code = resource.get("code")
    # The element `when` was read from (effective[x] decides when present), for its time
    # of day; a Period with only an end, or `issued`, gives a date without one.
    moment = effective
    read_time = clock_time  # `moment` is the value `when` was read from: already checked
    if moment is None:
        moment = period.get("start")
        if moment is None:
            moment = resource.get("effectiveInstant")
            if period.get("end") is not None:  # `when` came from the end: check the instant
                read_time = time_of_day
    return ObservationFact(
        ref=ref,
        codes=codes_of(code),
        status=status if type(status) is str else None,
        date=when,
        value=value,
        reference_ranges=reference_ranges(resource.get("referenceRange")),
        components=tuple(components),
        interpretation=codes_of(resource.get("interpretation")),
        display=display_of(code),
        problem="; ".join(problems) or None,
        time=read_time(moment) if when is not None and moment is not None else None,
        category=codes_of(resource.get("category")),
    )
