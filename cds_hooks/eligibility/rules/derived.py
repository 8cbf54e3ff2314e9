"""Values the record does not hold but its results determine: Cockcroft-Gault creatinine
clearance, and products such as ANC from WBC × neutrophil %."""

from __future__ import annotations

from cds_hooks.eligibility.context import Screening, Window
from cds_hooks.eligibility.rules.base import (
    MET,
    UNKNOWN,
    Evidence,
    Outcome,
    day,
    obs_evidence,
    unknown_obs,
)
from cds_hooks.eligibility.rules.registry import rule
from cds_hooks.eligibility.values import (
    NEGATED_TEXT,
    OP_TEXT,
    Undecidable,
    compare,
    fmt,
    read_number,
)
from cds_hooks.trials.params import CockcroftGault, DerivedProduct
from fhir_mappings.derived import age_in_years, cockcroft_gault


def cockcroft_gault_rule(p: CockcroftGault, s: Screening, window: Window) -> Outcome:
    label = p.label
    patient = s.record.patient
    if patient.gender not in ("male", "female"):
        return Outcome(UNKNOWN, f"{label}: needs sex male or female on record")
    if patient.birth_date is None or patient.birth_date_precision != "day":
        return Outcome(UNKNOWN, f"{label}: needs a full birth date")
    creat = s.latest_single(p.creatinine, window)
    weight = s.latest_single(p.weight, window)
    if creat.fact is None:
        return unknown_obs(label, f"creatinine: {creat.reason}")
    if weight.fact is None:
        return unknown_obs(label, f"body weight: {weight.reason}")
    try:
        scr = read_number(creat.fact.value, "mg/dL", s.code_set(p.creatinine))
        kg = read_number(weight.fact.value, "kg", s.code_set(p.weight))
        if scr.comparator or kg.comparator:
            raise Undecidable("creatinine or weight reported with a comparator")
        age = age_in_years(patient.birth_date, s.as_of)
        clearance = cockcroft_gault(age, patient.gender, kg.value, scr.value)
    except (Undecidable, ValueError) as exc:
        return Outcome(UNKNOWN, f"{label}: {exc}")
    evidence = (
        obs_evidence(creat.fact, scr, f"= {fmt(scr.value)} mg/dL" if scr.converted else None),
        obs_evidence(weight.fact, kg, f"= {fmt(kg.value)} kg" if kg.converted else None),
        Evidence(
            patient.ref,
            age,
            "a",
            patient.birth_date.isoformat(),
            f"computed clearance {fmt(clearance)} mL/min ({patient.gender}, age {age})",
        ),
    )
    status = compare(clearance, None, p.op, p.value)
    verb = OP_TEXT[p.op] if status == MET else NEGATED_TEXT[p.op]
    return Outcome(
        status,
        f"{label} {fmt(clearance)} mL/min {verb} {fmt(p.value)} "
        f"mL/min (age {age}, {fmt(kg.value)} kg, creatinine {fmt(scr.value)} mg/dL)",
        evidence,
    )


def derived_product(p: DerivedProduct, s: Screening, window: Window) -> Outcome:
    factor = s.latest_single(p.factor, window)
    percent = s.latest_single(p.percent, window)
    if factor.fact is None:
        return unknown_obs(p.label, f"{p.factor.replace('_', ' ')}: {factor.reason}")
    if percent.fact is None:
        return unknown_obs(p.label, f"{p.percent.replace('_', ' ')}: {percent.reason}")
    if factor.fact.date != percent.fact.date:
        # A count and a differential from different days are not one blood sample.
        return Outcome(
            UNKNOWN,
            f"{p.label}: {factor.fact.ref} ({day(factor.fact)}) and {percent.fact.ref} "
            f"({day(percent.fact)}) are not from the same day",
            (obs_evidence(factor.fact), obs_evidence(percent.fact)),
        )
    try:
        base = read_number(factor.fact.value, p.unit, s.code_set(p.factor))
        share = read_number(percent.fact.value, "%", s.code_set(p.percent))
        if base.comparator or share.comparator:
            raise Undecidable("a result is reported with a comparator")
    except Undecidable as exc:
        return Outcome(
            UNKNOWN,
            f"{p.label}: {exc}",
            (obs_evidence(factor.fact), obs_evidence(percent.fact)),
        )
    value = base.value * share.value / 100
    evidence = (
        obs_evidence(factor.fact, base),
        obs_evidence(percent.fact, share, f"derived {fmt(value)} {p.unit}"),
    )
    status = compare(value, None, p.op, p.value)
    verb = OP_TEXT[p.op] if status == MET else NEGATED_TEXT[p.op]
    return Outcome(
        status,
        f"{p.label} {fmt(value)} {p.unit} (derived: {fmt(base.value)} × {fmt(share.value)}% "
        f"on {day(factor.fact)}) {verb} {fmt(p.value)} {p.unit}",
        evidence,
    )


# Registered here, not with a decorator on each function: mutation testing (scripts/mutate)
# leaves decorated functions unmutated, and these bodies decide the criteria.
rule(CockcroftGault)(cockcroft_gault_rule)
rule(DerivedProduct)(derived_product)
