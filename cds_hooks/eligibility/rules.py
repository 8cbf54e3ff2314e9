"""Rule evaluators: one small function per rule `type` of the trial-definition schema.

Every evaluator is parameterised only by its rule object, so a new trial reuses them with
its own code sets and thresholds. Each returns an Outcome with the evidence that decided it;
none may return `met` without dated evidence inside its window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cds_hooks.eligibility.context import (
    COUNTED_OBSERVATION_STATUSES,
    Screening,
    Window,
)
from cds_hooks.eligibility.results import MET, NOT_MET, UNKNOWN, Evidence, Status
from cds_hooks.eligibility.values import (
    NEGATED_TEXT,
    OP_TEXT,
    Reading,
    Undecidable,
    compare,
    convert_quantity,
    fmt,
    read_number,
)
from fhir_mappings.derived import age_in_years, cockcroft_gault
from fhir_mappings.facts import (
    Code,
    ConditionFact,
    ObservationFact,
    ObservationValue,
    Quantity,
    ReferenceRange,
)
from fhir_mappings.units import UnitError, convert

Rule = Mapping[str, Any]

# Sex codes seen in referenceRange.appliesTo (SNOMED CT and FHIR administrative gender).
_SEX_CODES: Mapping[str, frozenset[Code]] = {
    "male": frozenset(
        {
            ("http://snomed.info/sct", "248153007"),
            ("http://hl7.org/fhir/administrative-gender", "male"),
        }
    ),
    "female": frozenset(
        {
            ("http://snomed.info/sct", "248152002"),
            ("http://hl7.org/fhir/administrative-gender", "female"),
        }
    ),
}
ACTIVE_REQUEST_STATUSES = frozenset({"active", "on-hold"})
ACTIVE_STATEMENT_STATUSES = frozenset({"active", "intended", "on-hold"})
NON_ORDER_INTENTS = frozenset({"proposal", "option"})
INACTIVE_CLINICAL = frozenset({"inactive", "resolved", "remission"})
FINAL_REPORT_STATUSES = frozenset({"final", "amended", "corrected", "appended"})


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    reason: str
    evidence: tuple[Evidence, ...] = ()


def _day(fact: Any) -> str | None:
    return fact.date.isoformat() if getattr(fact, "date", None) else None


def _obs_evidence(
    fact: ObservationFact, reading: Reading | None = None, note: str | None = None
) -> Evidence:
    if reading is not None:
        value: Any = reading.shown_value
        unit = reading.shown_unit
        if reading.comparator:
            note = f"reported as {reading.comparator}{fmt(float(reading.shown_value))}" + (
                f"; {note}" if note else ""
            )
    else:
        value, unit = _plain_value(fact.value)
    return Evidence(fact.ref, value, unit, _day(fact), note)


def _plain_value(value: ObservationValue) -> tuple[Any, str | None]:
    if value.quantity is not None:
        return value.quantity.value, value.quantity.unit
    if value.integer is not None:
        return value.integer, None
    if value.boolean is not None:
        return value.boolean, None
    if value.codes:
        return sorted(value.codes)[0][1], None
    return value.text, None


def _cond_evidence(fact: ConditionFact, note: str | None = None) -> Evidence:
    return Evidence(
        fact.ref,
        fact.display or (sorted(fact.codes)[0][1] if fact.codes else None),
        None,
        _day(fact),
        note,
    )


def _unknown_obs(label: str, reason: str) -> Outcome:
    return Outcome(UNKNOWN, f"{label}: {reason}")


# --------------------------------------------------------------------------- age
def age_range(rule: Rule, s: Screening, window: Window) -> Outcome:
    patient = s.record.patient
    if patient.birth_date is None:
        why = patient.problem or "no birth date on record"
        return Outcome(UNKNOWN, f"Age: {why}")
    low, high = int(rule["min"]), int(rule["max"])
    birth = patient.birth_date
    if patient.birth_date_precision == "day":
        youngest = oldest = age_in_years(birth, s.as_of)
        shown = birth.isoformat()
    else:
        # A partial birthDate allows a range of ages; decide only if all of them agree.
        last_day = (
            birth.replace(year=birth.year + 1)
            if patient.birth_date_precision == "year"
            else (birth.replace(day=28) + timedelta(days=4)).replace(day=1)
        ) - timedelta(days=1)
        oldest, youngest = age_in_years(birth, s.as_of), age_in_years(last_day, s.as_of)
        shown = birth.isoformat()[: 4 if patient.birth_date_precision == "year" else 7]
    evidence = (
        Evidence(
            patient.ref,
            oldest if oldest == youngest else f"{youngest}–{oldest}",
            "a",
            shown,
            "age in completed years on the screening date",
        ),
    )
    text = f"{oldest}" if oldest == youngest else f"{youngest}–{oldest} (birth date {shown})"
    if low <= youngest and oldest <= high:
        return Outcome(MET, f"Age {text}, within {low}–{high}", evidence)
    if oldest < low or youngest > high:
        return Outcome(NOT_MET, f"Age {text} is outside {low}–{high}", evidence)
    return Outcome(
        UNKNOWN, f"Age {text}: partial birth date straddles the {low}–{high} limit", evidence
    )


# --------------------------------------------------------------------------- diagnosis
def diagnosis(rule: Rule, s: Screening, window: Window) -> Outcome:
    if (why := s.unavailable("Condition")) is not None:
        return Outcome(UNKNOWN, f"Conditions could not be retrieved ({why})")
    confirmed = [c for n in rule["confirmed_code_sets"] for c in s.conditions(n)]
    disease = [c for n in rule["disease_code_sets"] for c in s.conditions(n)]
    histology_sets = [s.code_set(n) for n in rule["histology_code_sets"]]
    absent = str(rule.get("absent_reason", "no matching diagnosis on record"))

    def has_histology(c: ConditionFact) -> bool:
        return any(h.matches(c.histology) for h in histology_sets)

    candidates = [*confirmed, *[c for c in disease if c not in confirmed]]
    active = [c for c in candidates if c.clinical_status not in INACTIVE_CLINICAL]
    suspected = [c for c in active if c.suspected]
    if suspected and len(suspected) == len(active):
        return Outcome(
            UNKNOWN,
            f"{suspected[0].display or 'Diagnosis'} is suspected, not confirmed "
            f"(verificationStatus {suspected[0].verification_status or 'not given'})",
            tuple(_cond_evidence(c, "suspected, not confirmed") for c in suspected),
        )
    active = [c for c in active if not c.suspected]
    if not candidates:
        refuted = [
            c
            for n in (*rule["confirmed_code_sets"], *rule["disease_code_sets"])
            for c in s.refuted_conditions(n)
        ]
        note = (
            f" ({', '.join(c.ref for c in refuted)} is refuted or entered in error)"
            if refuted
            else ""
        )
        return Outcome(
            NOT_MET,
            absent[0].upper() + absent[1:] + note,
            tuple(_cond_evidence(c, "not counted") for c in refuted),
        )
    if not active:
        return Outcome(
            UNKNOWN,
            "Diagnosis on record is marked "
            f"{candidates[0].clinical_status}; confirm current disease",
            tuple(_cond_evidence(c) for c in candidates),
        )
    histologic = [c for c in active if c in confirmed or has_histology(c)]
    reports: list[Any] = [
        r
        for r in s.record.reports
        if r.status in FINAL_REPORT_STATUSES
        and r.date
        and any(h.matches(r.conclusion_codes) for h in histology_sets)
    ]
    # Histology may also come as a final pathology Observation (value: the morphology).
    pathology = s.code_set(PATHOLOGY_HISTOLOGY)
    reports += [
        _PathologyFinding(o.ref, o.date, o.display or "histology", o.time)
        for o in s.record.observations
        if o.status in COUNTED_OBSERVATION_STATUSES
        and o.date
        and o.problem is None
        and pathology.matches(o.codes)
        and any(h.matches(o.value.codes) for h in histology_sets)
    ]
    if histologic:
        dated = [c for c in histologic if c.date is not None]
        if not dated:
            return Outcome(
                UNKNOWN,
                "Diagnosis has no onset or recorded date",
                tuple(_cond_evidence(c) for c in histologic),
            )
        inside = [c for c in dated if c.date is not None and window.contains(c.date)]
        if not inside:
            return _outside_window(dated[0], window)
        best = inside[0]
        how = (
            "diagnosis code states adenocarcinoma"
            if best in confirmed
            else "histology recorded on the diagnosis"
        )
        return Outcome(
            MET,
            f"{best.display or 'Diagnosis'} on {_day(best)} ({how})",
            (_cond_evidence(best, how),),
        )
    dated = [c for c in active if c.date is not None and window.contains(c.date)]
    reports = [r for r in reports if r.date is not None and window.contains(r.date)]
    if reports and dated:
        report = reports[0]
        return Outcome(
            MET,
            f"{dated[0].display or 'Diagnosis'} with histology in {report.ref} on {_day(report)}",
            (
                _cond_evidence(dated[0]),
                Evidence(report.ref, report.conclusion, None, _day(report), "pathology conclusion"),
            ),
        )
    return Outcome(
        UNKNOWN,
        f"{active[0].display or 'Diagnosis'} on record without histology "
        "(adenocarcinoma not confirmed)",
        tuple(_cond_evidence(c) for c in active),
    )


PATHOLOGY_HISTOLOGY = "pathology_histology_observation"


@dataclass(frozen=True, slots=True)
class _PathologyFinding:
    """A pathology Observation stating the histology, read like a report conclusion."""

    ref: str
    date: Any
    conclusion: str
    time: Any = None


def _outside_window(condition: ConditionFact, window: Window) -> Outcome:
    what = condition.display or "Diagnosis"
    if condition.date is not None and condition.date > window.as_of:
        why = "after the screening date"
    else:
        age = (window.as_of - condition.date).days if condition.date else "?"
        why = f"{age} days ago, before this criterion's {window.days}-day window"
    return Outcome(UNKNOWN, f"{what} dated {_day(condition)}, {why}", (_cond_evidence(condition),))


# --------------------------------------------------------------------------- labs
OneResult = Callable[[Rule, Screening, ObservationFact], Outcome]


def _latest_decides(rule: Rule, s: Screening, window: Window, one: OneResult) -> Outcome:
    """Decide on the most recent qualifying result; results of the same day that would
    decide differently make it unknown (facts have no time of day to order them)."""
    candidate = s.latest(rule["code_set"], window)
    if candidate.fact is None:
        return _unknown_obs(rule["label"], candidate.reason)
    first = one(rule, s, candidate.fact)
    others = s.same_day(rule["code_set"], candidate.fact)
    if not others:
        return first
    outcomes = [first, *(one(rule, s, other) for other in others)]
    if all(o.status == first.status for o in outcomes):
        return first
    joined = _join(UNKNOWN, outcomes)
    return Outcome(
        UNKNOWN,
        f"{rule['label']}: {len(outcomes)} results on {_day(candidate.fact)} disagree "
        f"({joined.reason})",
        joined.evidence,
    )


def lab_threshold(rule: Rule, s: Screening, window: Window) -> Outcome:
    return _latest_decides(rule, s, window, _lab_threshold_one)


def _lab_threshold_one(rule: Rule, s: Screening, fact: ObservationFact) -> Outcome:
    label, op, threshold, unit = rule["label"], rule["op"], float(rule["value"]), rule["unit"]
    code_set = s.code_set(rule["code_set"])
    try:
        reading = read_number(fact.value, unit, code_set)
    except Undecidable as exc:
        return Outcome(
            UNKNOWN, f"{label}: {exc} ({fact.ref}, {_day(fact)})", (_obs_evidence(fact),)
        )
    status = compare(reading.compared, reading.comparator, op, threshold)
    shown = _shown(reading, unit)
    note = f"= {fmt(reading.value)} {unit}" if reading.converted else None
    evidence = (_obs_evidence(fact, reading, note),)
    limit = f"{fmt(threshold)} {unit}" if not unit.startswith("{") else fmt(threshold)
    if status == MET:
        return Outcome(MET, f"{label} {shown} on {_day(fact)} {OP_TEXT[op]} {limit}", evidence)
    if status == NOT_MET:
        return Outcome(
            NOT_MET, f"{label} {shown} on {_day(fact)} is {NEGATED_TEXT[op]} {limit}", evidence
        )
    return Outcome(
        UNKNOWN, f"{label} {shown} on {_day(fact)} cannot be compared with {limit}", evidence
    )


def _shown(reading: Reading, unit: str) -> str:
    comparator = reading.comparator or ""
    if reading.shown_unit is None:
        if isinstance(reading.shown_value, str):  # a coded answer: show its number too
            return f"{fmt(reading.value)} ({reading.shown_value})"
        return f"{comparator}{reading.shown_value}"
    value = reading.shown_value
    number = fmt(float(value)) if isinstance(value, int | float) else value
    return f"{comparator}{number} {reading.shown_unit}"


def _pick_range(ranges: Sequence[ReferenceRange], sex: str | None) -> ReferenceRange | None:
    with_high = [r for r in ranges if r.high is not None and r.problem is None]
    if sex is not None and sex in _SEX_CODES:
        for r in with_high:
            if r.applies_to & _SEX_CODES[sex]:
                return r
    general = [
        r for r in with_high if not (r.applies_to & (_SEX_CODES["male"] | _SEX_CODES["female"]))
    ]
    if general:
        return general[0]
    return None


def lab_uln_multiple(rule: Rule, s: Screening, window: Window) -> Outcome:
    return _latest_decides(rule, s, window, _lab_uln_one)


def _lab_uln_one(rule: Rule, s: Screening, fact: ObservationFact) -> Outcome:
    label, multiple = rule["label"], float(rule["max_multiple"])
    code_set = s.code_set(rule["code_set"])
    quantity = fact.value.quantity
    if quantity is None:
        return Outcome(
            UNKNOWN, f"{label}: no numeric value ({fact.ref}, {_day(fact)})", (_obs_evidence(fact),)
        )
    sex = s.record.patient.gender
    chosen = _pick_range(fact.reference_ranges, sex)
    unit = code_set.canonical_unit or quantity.unit or ""
    try:
        value = convert_quantity(quantity, unit, code_set)
        if chosen is not None and chosen.high is not None:
            high = chosen.high
            high_unit = high.unit or quantity.unit
            if high_unit is None:
                raise Undecidable("reference range has no unit")
            uln = convert_quantity(Quantity(high.value, high_unit), unit, code_set)
            source = f"ULN {fmt(high.value)} {high_unit} from the Observation's referenceRange" + (
                "" if high.unit else " (range unit assumed same as the value)"
            )
        elif fact.reference_ranges:
            # The lab gave a range we cannot use: its ULN is unknown. The default table is
            # only for results that came with no range at all.
            why = next((r.problem for r in fact.reference_ranges if r.problem), None)
            raise Undecidable(
                f"ULN unknown: {why}"
                if why
                else "ULN unknown: the result's reference range has no upper limit "
                f"for sex {sex or 'unknown'}"
            )
        else:
            default = s.terminology.default_limit(rule["limit"], "high", sex)
            if default is None:
                raise Undecidable(
                    "no reference range on the result and no default ULN "
                    f"for sex {sex or 'unknown'}"
                )
            uln = convert(
                default[0].value,
                default[0].unit or unit,
                unit,
                molar_mass=code_set.molar_mass,
                equivalents=code_set.unit_equivalents,
            )
            source = default[1]
    except (Undecidable, UnitError) as exc:
        return Outcome(
            UNKNOWN, f"{label}: {exc} ({fact.ref}, {_day(fact)})", (_obs_evidence(fact),)
        )
    reading = Reading(value, quantity.comparator, quantity.value, quantity.unit, False)
    limit = multiple * uln
    status = compare(value, quantity.comparator, "<=", limit)
    shown = _shown(reading, unit)
    ratio = f"{fmt(value / uln)}× ULN" if uln > 0 and quantity.comparator is None else "vs ULN"
    evidence = (_obs_evidence(fact, reading, source),)
    if status == MET:
        text = f"{label} {shown} on {_day(fact)} ({ratio}) ≤ {fmt(multiple)}× ULN"
    elif status == NOT_MET:
        text = f"{label} {shown} on {_day(fact)} ({ratio}) is > {fmt(multiple)}× ULN"
    else:
        text = f"{label} {shown} on {_day(fact)} cannot be compared with {fmt(multiple)}× ULN"
    return Outcome(status, f"{text}; {source}", evidence)


def ordinal_grade(rule: Rule, s: Screening, window: Window) -> Outcome:
    label, below = rule["label"], float(rule["below"])
    code_set = s.code_set(rule["code_set"])
    candidate = s.latest(rule["code_set"], window)
    if candidate.fact is None:
        return _unknown_obs(label, candidate.reason)
    fact = candidate.fact
    grade: float | None = None
    value = fact.value
    shown: Any = None
    for code in value.codes:
        if code in code_set.answers:
            grade, shown = code_set.answers[code], code_set.displays.get(code, code[1])
    if grade is None and value.text is not None:
        key = value.text.strip().lower()
        if key in code_set.text_grades:
            grade, shown = code_set.text_grades[key], value.text.strip()
    if grade is None and value.quantity is not None and code_set.canonical_unit:
        try:
            amount = convert_quantity(value.quantity, code_set.canonical_unit, code_set)
        except Undecidable as exc:
            return Outcome(
                UNKNOWN, f"{label}: {exc} ({fact.ref}, {_day(fact)})", (_obs_evidence(fact),)
            )
        if value.quantity.comparator in ("<", "<="):
            amount -= 1e-9
        elif value.quantity.comparator in (">", ">="):
            return Outcome(
                UNKNOWN, f"{label}: open-ended value ({fact.ref})", (_obs_evidence(fact),)
            )
        for upper, level in code_set.quantity_grades:
            if upper is None or amount < upper:
                grade = level
                break
        if value.quantity.value == 0:
            grade = 0
        shown = f"{fmt(value.quantity.value)} {value.quantity.unit}"
    if grade is None:
        return Outcome(
            UNKNOWN,
            f"{label}: result not readable as a grade ({fact.ref}, {_day(fact)})",
            (_obs_evidence(fact),),
        )
    evidence = (Evidence(fact.ref, shown, None, _day(fact), f"grade {fmt(grade)}"),)
    if grade < below:
        return Outcome(MET, f"{label} {shown} on {_day(fact)} (< {fmt(below)}+)", evidence)
    return Outcome(NOT_MET, f"{label} {shown} on {_day(fact)} (≥ {fmt(below)}+)", evidence)


def cockcroft_gault_rule(rule: Rule, s: Screening, window: Window) -> Outcome:
    label = "Cockcroft-Gault creatinine clearance"
    patient = s.record.patient
    if patient.gender not in ("male", "female"):
        return Outcome(UNKNOWN, f"{label}: needs sex male or female on record")
    if patient.birth_date is None or patient.birth_date_precision != "day":
        return Outcome(UNKNOWN, f"{label}: needs a full birth date")
    creat = s.latest(rule["creatinine"], window)
    weight = s.latest(rule["weight"], window)
    if creat.fact is None:
        return _unknown_obs(label, f"creatinine: {creat.reason}")
    if weight.fact is None:
        return _unknown_obs(label, f"body weight: {weight.reason}")
    try:
        scr = read_number(creat.fact.value, "mg/dL", s.code_set(rule["creatinine"]))
        kg = read_number(weight.fact.value, "kg", s.code_set(rule["weight"]))
        if scr.comparator or kg.comparator:
            raise Undecidable("creatinine or weight reported with a comparator")
        age = age_in_years(patient.birth_date, s.as_of)
        clearance = cockcroft_gault(age, patient.gender, kg.value, scr.value)
    except (Undecidable, ValueError) as exc:
        return Outcome(UNKNOWN, f"{label}: {exc}")
    evidence = (
        _obs_evidence(creat.fact, scr, f"= {fmt(scr.value)} mg/dL" if scr.converted else None),
        _obs_evidence(weight.fact, kg, f"= {fmt(kg.value)} kg" if kg.converted else None),
        Evidence(
            patient.ref,
            age,
            "a",
            patient.birth_date.isoformat(),
            f"computed clearance {fmt(clearance)} mL/min ({patient.gender}, age {age})",
        ),
    )
    status = compare(clearance, None, rule["op"], float(rule["value"]))
    verb = OP_TEXT[rule["op"]] if status == MET else NEGATED_TEXT[rule["op"]]
    return Outcome(
        status,
        f"{label} {fmt(clearance)} mL/min {verb} {fmt(float(rule['value']))} "
        f"mL/min (age {age}, {fmt(kg.value)} kg, creatinine {fmt(scr.value)} mg/dL)",
        evidence,
    )


# --------------------------------------------------------------------------- combinators
def _children(rule: Rule, s: Screening, window: Window) -> list[Outcome]:
    return [evaluate(child, s, window) for child in rule["rules"]]


def all_of(rule: Rule, s: Screening, window: Window) -> Outcome:
    """Every part must pass: one failing part fails the whole; one unknown part leaves it
    unknown (e.g. ALT and AST, one missing → unknown)."""
    outcomes = _children(rule, s, window)
    failed = [o for o in outcomes if o.status == NOT_MET]
    if failed:
        return _join(NOT_MET, failed)
    if all(o.status == MET for o in outcomes):
        return _join(MET, outcomes)
    return _join(UNKNOWN, outcomes)


def any_of(rule: Rule, s: Screening, window: Window) -> Outcome:
    """One passing route suffices; not_met only when every route fails."""
    outcomes = _children(rule, s, window)
    passed = [o for o in outcomes if o.status == MET]
    if passed:
        return _join(MET, passed)
    if all(o.status == NOT_MET for o in outcomes):
        return _join(NOT_MET, outcomes)
    return _join(UNKNOWN, outcomes)


def first_decided(rule: Rule, s: Screening, window: Window) -> Outcome:
    """Routes in order of preference; the first that decides (met or not_met) wins.

    Used where one measure supersedes another: a measured creatinine clearance, when there
    is one, decides over the Cockcroft-Gault estimate.
    """
    outcomes = _children(rule, s, window)
    for outcome in outcomes:
        if outcome.status != UNKNOWN:
            return outcome
    return _join(UNKNOWN, outcomes)


def _join(status: Status, outcomes: Sequence[Outcome]) -> Outcome:
    evidence: list[Evidence] = []
    for o in outcomes:
        evidence.extend(e for e in o.evidence if e not in evidence)
    return Outcome(status, "; ".join(o.reason for o in outcomes), tuple(evidence))


# --------------------------------------------------------------------------- tumour biology
def _coded(fact: ObservationFact | None, values: Any) -> bool:
    return fact is not None and values.matches(fact.value.codes)


def msi_mmr(rule: Rule, s: Screening, window: Window) -> Outcome:
    if (why := s.unavailable("Observation")) is not None:
        return Outcome(UNKNOWN, f"Observations could not be retrieved ({why})")
    stable, high = s.code_set(rule["stable_values"]), s.code_set(rule["high_values"])
    intact, loss = s.code_set(rule["intact_values"]), s.code_set(rule["loss_values"])
    msi = s.latest(rule["msi"], window).fact
    proteins: dict[str, tuple[ObservationFact, ObservationValue] | None] = {}
    for name in rule["proteins"]:
        found: tuple[ObservationFact, ObservationValue] | None = None
        own = s.latest(name, window).fact
        if own is not None:
            found = (own, own.value)
        else:
            for panel, component in s.components.get(name, ()):
                if (
                    panel.status in COUNTED_OBSERVATION_STATUSES
                    and panel.date
                    and window.contains(panel.date)
                    and component.value.codes
                ):
                    found = (panel, component.value)
                    break
        proteins[name] = found
    lost = [(n, f) for n, f in proteins.items() if f and loss.matches(f[1].codes)]
    kept = [(n, f) for n, f in proteins.items() if f and intact.matches(f[1].codes)]

    def ev(fact: ObservationFact, value: ObservationValue, note: str) -> Evidence:
        code = sorted(value.codes)[0][1] if value.codes else value.text
        return Evidence(fact.ref, code, None, _day(fact), note)

    evidence: list[Evidence] = []
    if msi is not None:
        evidence.append(ev(msi, msi.value, "microsatellite instability"))
    for name, found in proteins.items():
        if found:
            evidence.append(
                ev(found[0], found[1], s.code_set(name).name.replace("mmr_", "").upper())
            )
    unique = tuple(dict.fromkeys(evidence))
    if _coded(msi, high) or lost:
        parts = []
        if _coded(msi, high) and msi is not None:
            parts.append(f"MSI-high on {_day(msi)}")
        if lost:
            parts.append(
                "loss of "
                + ", ".join(n.replace("mmr_", "").upper() for n, _ in lost)
                + " expression (dMMR)"
            )
        return Outcome(NOT_MET, "; ".join(parts), unique)
    if _coded(msi, stable) and msi is not None:
        return Outcome(MET, f"Microsatellite stable (MSS) on {_day(msi)}", unique)
    if len(kept) == len(proteins):
        return Outcome(MET, "pMMR: MLH1, MSH2, MSH6 and PMS2 expression retained", unique)
    if msi is None and not kept:
        return Outcome(UNKNOWN, "No MSI or MMR result on record", unique)
    missing = [
        n.replace("mmr_", "").upper()
        for n, f in proteins.items()
        if f is None or not (intact.matches(f[1].codes) or loss.matches(f[1].codes))
    ]
    parts = []
    if msi is not None:
        parts.append(f"MSI result on {_day(msi)} is indeterminate")
    if missing:
        parts.append("MMR immunohistochemistry incomplete: " + ", ".join(missing) + " not reported")
    return Outcome(UNKNOWN, "; ".join(parts), unique)


def oligometastases(rule: Rule, s: Screening, window: Window) -> Outcome:
    if (why := s.unavailable("Condition")) is not None:
        return Outcome(UNKNOWN, f"Conditions could not be retrieved ({why})")
    secondary_sets = [s.code_set(n) for n in rule["secondary_code_sets"]]
    body_sites = s.code_set(rule["body_site_code_set"])
    mets = [
        c
        for n in rule["secondary_code_sets"]
        for c in s.conditions(n)
        if c.clinical_status not in INACTIVE_CLINICAL
    ]
    suspected = [c for c in mets if c.suspected]
    if suspected:
        # A suspected metastasis can neither be counted nor ignored.
        return Outcome(
            UNKNOWN,
            f"Metastasis {suspected[0].display or suspected[0].ref} is suspected, not "
            "confirmed: the number of sites cannot be established",
            tuple(_cond_evidence(c, "suspected, not confirmed") for c in suspected),
        )
    m_stage = s.latest(rule["m_stage"], window).fact
    m0 = _coded(m_stage, s.code_set(rule["m0_values"]))
    lesions_fact = s.latest(rule["lesion_count"], window).fact
    sites_fact = s.latest(rule["site_count"], window).fact
    evidence: list[Evidence] = [_cond_evidence(c) for c in mets]
    if m_stage is not None:
        evidence.append(_obs_evidence(m_stage, note="M category"))
    if m0 and not mets and m_stage is not None:
        return Outcome(
            NOT_MET, f"Staged M0 (no distant metastasis) on {_day(m_stage)}", tuple(evidence)
        )
    if m0 and mets:
        return Outcome(
            UNKNOWN, "Staged M0 but metastases are on record: conflicting staging", tuple(evidence)
        )
    # Distinct organ sites from the metastasis conditions.
    groups: set[str] = set()
    undetermined: list[ConditionFact] = []
    for c in mets:
        group = None
        for code in c.codes:
            for cs in secondary_sets:
                found = cs.group_of(code)
                if found and found != "unspecified":
                    group = found
        if group is None:
            for code in c.body_sites:
                group = body_sites.group_of(code) or group
        if group is None:
            undetermined.append(c)
        else:
            groups.add(group)

    def count(fact: ObservationFact | None) -> int | None:
        if fact is None:
            return None
        if fact.value.integer is not None:
            return fact.value.integer
        if fact.value.quantity is not None and fact.value.quantity.comparator is None:
            return (
                int(fact.value.quantity.value) if fact.value.quantity.value.is_integer() else None
            )
        return None

    lesions, site_total = count(lesions_fact), count(sites_fact)
    if lesions_fact is not None:
        evidence.append(_obs_evidence(lesions_fact, note="metastatic lesions"))
    if sites_fact is not None:
        evidence.append(_obs_evidence(sites_fact, note="metastatic sites"))
    sites = site_total if site_total is not None else (None if undetermined else len(groups))
    if sites is not None and site_total is None and not mets:
        sites = None
    ev = tuple(dict.fromkeys(evidence))
    site_text = (
        f"{sites} metastatic site{'s' if sites != 1 else ''}"
        + (f" ({', '.join(sorted(groups))})" if groups and site_total is None else "")
        if sites is not None
        else ""
    )
    if site_total is not None and not undetermined and len(groups) > site_total:
        # Metastasis diagnoses in more organs than the imaging summary counts: one of the
        # two is out of date, and only a person can say which.
        return Outcome(
            UNKNOWN,
            f"{site_total} metastatic site{'s' if site_total != 1 else ''} recorded but "
            f"metastases on record in {len(groups)} organs ({', '.join(sorted(groups))}): "
            "conflicting",
            ev,
        )
    if sites is not None and sites > int(rule["max_sites"]):
        return Outcome(NOT_MET, f"{site_text}: more than {rule['max_sites']}", ev)
    if lesions is not None and lesions > int(rule["max_lesions"]):
        return Outcome(
            NOT_MET, f"{lesions} metastatic lesions: more than {rule['max_lesions']}", ev
        )
    if not mets and site_total is None and lesions is None:
        return Outcome(UNKNOWN, "No metastasis on record", ev)
    # Synchronous: metastases found around the time of the primary diagnosis.
    within = rule.get("synchronous_within_days")
    primaries = [c for n in rule.get("disease_code_sets", []) for c in s.conditions(n) if c.date]
    if within is not None and primaries and mets:
        first = min(c.date for c in primaries if c.date)
        late = [
            (c, (c.date - first).days)
            for c in mets
            if c.date and (c.date - first).days > int(within)
        ]
        if late:
            return Outcome(
                NOT_MET,
                f"Metastasis {late[0][0].ref} diagnosed {late[0][1]}"
                f" days after the primary (metachronous, not synchronous)",
                ev,
            )
    if sites is None:
        return Outcome(
            UNKNOWN, "Metastases on record but the number of organ sites cannot be established", ev
        )
    if lesions is None:
        return Outcome(
            UNKNOWN,
            f"{site_text}; total lesion count not recorded in the last {window.days} days",
            ev,
        )
    undated = [c for c in mets if c.date is None]
    if undated:
        return Outcome(
            UNKNOWN, f"{site_text}, {lesions} lesions, but {undated[0].ref} is undated", ev
        )
    if lesions < sites:
        return Outcome(
            UNKNOWN, f"{site_text} but only {lesions} lesions recorded: inconsistent", ev
        )
    return Outcome(
        MET,
        f"{site_text}, {lesions} lesions (≤ {rule['max_sites']} sites, "
        f"≤ {rule['max_lesions']} lesions)",
        ev,
    )


# A length followed, within the same clause, by "anal verge" with no other length in
# between: in "a 3 cm mass 8 cm from the anal verge" the distance is 8 cm, not the size.
# A qualifier just before the number ("more than 10 cm", "within 5 cm") makes it an
# interval, compared like a Quantity comparator.
_LENGTH = r"\d+(?:[.,]\d+)?\s*(?:cm|mm)\b"
_DISTANCE = re.compile(
    r"(?:\b(more\s+than|greater\s+than|over|beyond|at\s+least|less\s+than|under|within"
    r"|up\s+to)\s+|([<>]=?|[≤≥])\s*)?"
    rf"(\d+(?:[.,]\d+)?)\s*(cm|mm)\b(?:(?!{_LENGTH})[^.;\n]){{0,40}}?\banal\s+verge",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"\b(?:no|not|without|cannot|unable)\b", re.IGNORECASE)
_QUALIFIER_COMPARATOR = {
    "more than": ">",
    "greater than": ">",
    "over": ">",
    "beyond": ">",
    "at least": ">=",
    "less than": "<",
    "under": "<",
    "within": "<=",
    "up to": "<=",
    "≤": "<=",
    "≥": ">=",
}


@dataclass(frozen=True, slots=True)
class TextDistance:
    value: float
    unit: str
    comparator: str | None

    @property
    def shown(self) -> str:
        return f"{self.comparator or ''}{fmt(self.value)} {self.unit}"


def distances_in(text: str) -> list[TextDistance] | None:
    """Distances from the anal verge stated in free text; None when a statement is
    negated ("no tumour within 10 cm of the anal verge"), which text matching cannot read."""
    found: list[TextDistance] = []
    for match in _DISTANCE.finditer(text):
        clause_start = max(text.rfind(c, 0, match.start()) for c in ".;\n") + 1
        if _NEGATION.search(text, clause_start, match.end()):
            return None
        word, symbol, number, unit = match.groups()
        qualifier = " ".join((word or symbol or "").lower().split())
        comparator = _QUALIFIER_COMPARATOR.get(qualifier, qualifier or None)
        found.append(TextDistance(float(number.replace(",", ".")), unit.lower(), comparator))
    return found


def distance(rule: Rule, s: Screening, window: Window) -> Outcome:
    label, maximum, unit = rule["label"], float(rule["max"]), rule["unit"]
    code_set = s.code_set(rule["code_set"])
    candidate = s.latest(rule["code_set"], window)
    if candidate.fact is not None:
        fact = candidate.fact
        try:
            reading = read_number(fact.value, unit, code_set)
        except Undecidable as exc:
            return Outcome(UNKNOWN, f"{label}: {exc} ({fact.ref})", (_obs_evidence(fact),))
        status = compare(reading.value, reading.comparator, "<=", maximum)
        evidence = (_obs_evidence(fact, reading),)
        verb = "≤" if status == MET else ">" if status == NOT_MET else "vs"
        return Outcome(
            status,
            f"{label} {_shown(reading, unit)} on {_day(fact)} {verb} {fmt(maximum)} {unit}",
            evidence,
        )
    if (why := s.unavailable("DiagnosticReport")) is not None:
        return Outcome(UNKNOWN, f"{label}: {candidate.reason}; reports unavailable ({why})")
    report_sets = [s.code_set(n) for n in rule["report_code_sets"]]
    for report in s.record.reports:  # newest first
        if (
            report.status not in FINAL_REPORT_STATUSES
            or report.date is None
            or not window.contains(report.date)
            or not report.conclusion
        ):
            continue
        # Only the modality the criterion names counts (an endoscopy report's distance
        # is not an MRI's): a report in the MRI code sets, or one whose code, category
        # or title says MR and whose conclusion names the anal verge.
        if report.modality not in (None, "MR"):
            continue
        if not (
            any(cs.matches(report.codes) for cs in report_sets)
            or ("anal verge" in report.conclusion.lower() and report.modality == "MR")
        ):
            continue
        found = distances_in(report.conclusion)
        if found is None:
            return Outcome(
                UNKNOWN,
                f"{label}: report {report.ref} conclusion is a negated statement; "
                "needs reading by a person",
                (Evidence(report.ref, report.conclusion, None, _day(report), "negated text"),),
            )
        if not found:
            continue
        readings = {(convert(d.value, d.unit, unit), d.comparator): d for d in found}
        if len(readings) > 1:
            return Outcome(
                UNKNOWN,
                f"{label}: report {report.ref} states several distances "
                f"({', '.join(sorted({d.shown for d in found}))})",
                (Evidence(report.ref, None, None, _day(report), "ambiguous text"),),
            )
        (value, comparator), stated = next(iter(readings.items()))
        evidence = (
            Evidence(
                report.ref,
                stated.value,
                stated.unit,
                _day(report),
                "read from the report conclusion"
                + (f" ({stated.comparator}{fmt(stated.value)})" if stated.comparator else ""),
            ),
        )
        status = compare(value, comparator, "<=", maximum)
        verb = "≤" if status == MET else ">" if status == NOT_MET else "cannot be compared with"
        return Outcome(
            status,
            f"{label} {stated.shown} (MRI report {_day(report)}) {verb} {fmt(maximum)} {unit}",
            evidence,
        )
    return _unknown_obs(label, candidate.reason + "; no MRI report states it")


def measurable_disease(rule: Rule, s: Screening, window: Window) -> Outcome:
    flag_search = s.latest(rule["flag_code_set"], window)
    flag = flag_search.fact
    if flag is not None and flag.value.boolean is not None:
        evidence = (_obs_evidence(flag),)
        if flag.value.boolean:
            return Outcome(
                MET, f"Measurable disease (RECIST 1.1) recorded on {_day(flag)}", evidence
            )
        return Outcome(
            NOT_MET, f"No measurable disease (RECIST 1.1) recorded on {_day(flag)}", evidence
        )
    if (why := s.unavailable("Observation")) is not None:
        return Outcome(UNKNOWN, f"Observations could not be retrieved ({why})")
    code_set = s.code_set(rule["size_code_set"])
    minimum, unit = float(rule["min_size"]), rule["unit"]
    sizes: list[tuple[float, ObservationFact]] = []
    for fact in s.observations.get(rule["size_code_set"], ()):
        if (
            fact.status in COUNTED_OBSERVATION_STATUSES
            and fact.date
            and window.contains(fact.date)
            and fact.problem is None  # e.g. an implausible size never counts
            and fact.value.quantity is not None
            and fact.value.quantity.comparator is None
        ):
            try:
                sizes.append((convert_quantity(fact.value.quantity, unit, code_set), fact))
            except Undecidable:
                continue
    if not sizes:
        # Say why the RECIST record did not count (stale, preliminary...) when there is one.
        detail = flag_search.reason.partition("; ")[2]
        return Outcome(
            UNKNOWN,
            f"No RECIST assessment or tumour size in the last {window.days} days"
            + (f" ({detail})" if detail else ""),
        )
    size, fact = max(sizes, key=lambda x: x[0])
    evidence = (_obs_evidence(fact),)
    if size >= minimum:
        return Outcome(
            MET, f"Lesion of {fmt(size)} {unit} on {_day(fact)} (≥ {fmt(minimum)} {unit})", evidence
        )
    return Outcome(
        UNKNOWN,
        f"Largest recorded lesion {fmt(size)} {unit} (< {fmt(minimum)} {unit}); "
        "measurability needs a radiologist",
        evidence,
    )


# --------------------------------------------------------------------------- medications
def no_active_medication(rule: Rule, s: Screening, window: Window) -> Outcome:
    for resource_type in ("MedicationRequest", "MedicationStatement"):
        if (why := s.unavailable(resource_type)) is not None:
            return Outcome(UNKNOWN, f"Medications could not be retrieved ({why})")
    code_sets = [s.code_set(n) for n in rule["medication_code_sets"]]
    active = [
        m
        for m in s.record.medications
        if (
            m.status in ACTIVE_REQUEST_STATUSES and m.intent not in NON_ORDER_INTENTS
            if m.resource_type == "MedicationRequest"
            else m.status in ACTIVE_STATEMENT_STATUSES
        )
    ]
    unresolved = [m for m in active if not m.codes]
    hits = [m for m in active if any(cs.matches(m.codes) for cs in code_sets)]
    maybe = [
        m for m in active if m not in hits and any(cs.matches(m.possible_codes) for cs in code_sets)
    ]
    if maybe and not hits:
        first = maybe[0]
        return Outcome(
            UNKNOWN,
            f"{first.ref}: may be {', '.join(first.possible_drugs)}; code not recognised",
            tuple(Evidence(m.ref, m.display, None, _day(m), m.status) for m in maybe),
        )
    if hits:
        names = ", ".join(dict.fromkeys(m.display or sorted(m.codes)[0][1] for m in hits))
        return Outcome(
            UNKNOWN,
            f"Active {names}: {rule['why']}",
            tuple(Evidence(m.ref, m.display, None, _day(m), m.status) for m in hits),
        )
    if unresolved:
        return Outcome(
            UNKNOWN,
            f"{unresolved[0].ref} has no readable medication code",
            tuple(Evidence(m.ref, m.display, None, _day(m), m.status) for m in unresolved),
        )
    patient_id = s.record.patient.ref.split("/", 1)[1]
    evidence = (
        Evidence(
            f"MedicationRequest?patient={patient_id}&status=active",
            len(active),
            None,
            s.as_of.isoformat(),
            "active medication list reviewed on the screening date",
        ),
    )
    return Outcome(
        MET,
        f"No active anticoagulant or antiplatelet among {len(active)} active "
        f"medication{'s' if len(active) != 1 else ''}",
        evidence,
    )


# --------------------------------------------------------------------------- attestations
def attestation(rule: Rule, s: Screening, window: Window) -> Outcome:
    label = rule["label"]
    fact = s.latest(rule["code_set"], window).fact
    if fact is not None and fact.value.boolean is not None:
        evidence = (_obs_evidence(fact),)
        if fact.value.boolean:
            return Outcome(MET, f"{label}: confirmed on {_day(fact)}", evidence)
        return Outcome(NOT_MET, f"{label}: declined on {_day(fact)}", evidence)
    return Outcome(UNKNOWN, f"{label}: needs confirmation by the study team")


def pregnancy_contraception(rule: Rule, s: Screening, window: Window) -> Outcome:
    patient = s.record.patient
    agreement = attestation(
        {"label": "Contraception agreement", "code_set": rule["contraception"]}, s, window
    )
    if patient.gender == "male":
        pregnancy = Outcome(MET, "Pregnancy test not applicable (male)")
    elif patient.gender != "female":
        pregnancy = Outcome(UNKNOWN, "Sex not recorded: pregnancy test requirement unclear")
    else:
        pregnancy = _pregnancy(rule, s, window)
    if NOT_MET in (pregnancy.status, agreement.status):
        return _join(NOT_MET, [o for o in (pregnancy, agreement) if o.status == NOT_MET])
    if pregnancy.status == MET and agreement.status == MET:
        return _join(MET, [pregnancy, agreement])
    return _join(UNKNOWN, [pregnancy, agreement])


def _pregnancy(rule: Rule, s: Screening, window: Window) -> Outcome:
    test_window = Window(s.as_of, int(rule["test_lookback_days"]))
    positive, negative = s.code_set(rule["positive_values"]), s.code_set(rule["negative_values"])
    pregnant, not_pregnant = (
        s.code_set(rule["pregnant_values"]),
        s.code_set(rule["not_pregnant_values"]),
    )
    results: list[tuple[ObservationFact, Status]] = []  # status of "not pregnant"
    for name in (rule["pregnancy_test"], rule["pregnancy_status"]):
        fact = s.latest(name, test_window).fact
        if fact is None:
            continue
        codes = fact.value.codes | fact.interpretation
        if positive.matches(codes) or pregnant.matches(codes):
            results.append((fact, NOT_MET))
        elif negative.matches(codes) or not_pregnant.matches(codes):
            results.append((fact, MET))
    hcg = s.latest(rule["hcg_quantitative"], test_window).fact
    unclear: Outcome | None = None
    if hcg is not None:
        negative_below = float(rule.get("hcg_negative_below", 5))
        positive_from = float(rule.get("hcg_positive_from", 25))
        try:
            reading = read_number(hcg.value, "m[IU]/mL", s.code_set(rule["hcg_quantitative"]))
        except Undecidable as exc:
            unclear = Outcome(UNKNOWN, f"hCG {hcg.ref}: {exc}", (_obs_evidence(hcg),))
        else:
            if compare(reading.value, reading.comparator, "<", negative_below) == MET:
                results.append((hcg, MET))
            elif compare(reading.value, reading.comparator, ">=", positive_from) == MET:
                results.append((hcg, NOT_MET))
            else:
                # Between the negative and positive cut-offs (or an interval straddling
                # one): neither excludes nor confirms pregnancy; needs a repeat test.
                unclear = Outcome(
                    UNKNOWN,
                    f"hCG {_shown(reading, 'm[IU]/mL')} on {_day(hcg)} is indeterminate "
                    f"({fmt(negative_below)}–{fmt(positive_from)} m[IU]/mL)",
                    (_obs_evidence(hcg, reading),),
                )
    positives = [f for f, st in results if st == NOT_MET]
    if positives:
        f = positives[0]
        return Outcome(NOT_MET, f"Positive pregnancy test on {_day(f)}", (_obs_evidence(f),))
    menopause = [c for c in s.conditions(rule["postmenopausal"]) if c.date]
    if menopause:
        return Outcome(
            MET, f"Post-menopausal (recorded {_day(menopause[0])})", (_cond_evidence(menopause[0]),)
        )
    if unclear is not None:
        # An indeterminate hCG outweighs a negative qualitative test in the same week.
        return unclear
    negatives = [f for f, st in results if st == MET]
    if negatives:
        f = negatives[0]
        return Outcome(MET, f"Negative pregnancy test on {_day(f)}", (_obs_evidence(f),))
    return Outcome(
        UNKNOWN,
        f"No pregnancy test in the last {test_window.days} days and no "
        "post-menopausal status on record",
    )


Evaluator = Callable[[Rule, Screening, Window], Outcome]
EVALUATORS: dict[str, Evaluator] = {
    "age_range": age_range,
    "diagnosis": diagnosis,
    "lab_threshold": lab_threshold,
    "lab_uln_multiple": lab_uln_multiple,
    "ordinal_grade": ordinal_grade,
    "cockcroft_gault": cockcroft_gault_rule,
    "all_of": all_of,
    "any_of": any_of,
    "first_decided": first_decided,
    "msi_mmr": msi_mmr,
    "oligometastases": oligometastases,
    "distance": distance,
    "measurable_disease": measurable_disease,
    "no_active_medication": no_active_medication,
    "attestation": attestation,
    "pregnancy_contraception": pregnancy_contraception,
}


def evaluate(rule: Rule, s: Screening, window: Window) -> Outcome:
    return EVALUATORS[rule["type"]](rule, s, window)
