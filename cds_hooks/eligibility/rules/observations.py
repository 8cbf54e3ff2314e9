"""Rules on Observations: thresholds in UCUM units (values or components), × ULN, ordinal
grades, coded answers, ordered categories (staging), measurable disease and MSI/MMR."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cds_hooks.eligibility.context import (
    IMPLAUSIBLE,
    VOID_OBSERVATION_STATUSES,
    Screening,
    Window,
)
from cds_hooks.eligibility.rules.base import (
    MET,
    NOT_MET,
    UNKNOWN,
    Evidence,
    Outcome,
    absent,
    day,
    join,
    lower_first,
    obs_evidence,
    shown,
    unknown_obs,
)
from cds_hooks.eligibility.rules.registry import rule
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
from cds_hooks.trials.params import (
    CodedValue,
    LabThreshold,
    LabUlnMultiple,
    MeasurableDisease,
    MsiMmr,
    OrderedCategory,
    OrdinalGrade,
)
from fhir_mappings.facts import (
    COUNTED_OBSERVATION_STATUSES,
    Code,
    ObservationFact,
    ObservationValue,
    Quantity,
    ReferenceRange,
)
from fhir_mappings.terminology import CodeSet
from fhir_mappings.units import UnitError, convert

# Sex codes seen in referenceRange.appliesTo (SNOMED CT and FHIR administrative gender).
_SEX_CODES: dict[str, frozenset[Code]] = {
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

OneResult = Callable[[ObservationFact], Outcome]


def latest_decides(
    label: str, code_set: str, s: Screening, window: Window, one: OneResult
) -> Outcome:
    """Decide on the most recent qualifying result; results of the same day that would
    decide differently make it unknown (facts have no time of day to order them)."""
    candidate = s.latest(code_set, window)
    if candidate.fact is None:
        return unknown_obs(label, candidate.reason)
    first = one(candidate.fact)
    others = s.same_day(code_set, candidate.fact)
    if not others:
        return first
    outcomes = [first, *(one(other) for other in others)]
    if all(o.status == first.status for o in outcomes):
        return first
    joined = join(UNKNOWN, outcomes)
    return Outcome(
        UNKNOWN,
        f"{label}: {len(outcomes)} results on {day(candidate.fact)} disagree ({joined.reason})",
        joined.evidence,
    )


def latest_component(
    s: Screening, name: str, window: Window
) -> tuple[ObservationFact, ObservationValue] | None:
    """The newest counted value of component code set `name`, from a panel's component or
    from an Observation of its own, dated inside the window. Raises Undecidable when the
    newest result in the window (a panel or one of its own) holds an impossible value."""
    best: tuple[ObservationFact, ObservationValue] | None = None
    own = s.latest(name, window).fact
    if own is not None and not own.value.is_empty:
        best = (own, own.value)
    for panel, component in s.components.get(name, ()):
        if (
            panel.problem is not None
            and panel.problem.startswith(IMPLAUSIBLE)
            and panel.status in COUNTED_OBSERVATION_STATUSES
            and panel.date is not None
            and window.contains(panel.date)
            and (best is None or (best[0].date is not None and panel.date > best[0].date))
        ):
            # The newest panel holds an impossible value: the current one is unknown, and
            # an older panel must not stand in for it.
            raise Undecidable(f"latest result {panel.ref} on {day(panel)}: {panel.problem}")
        if (
            panel.status in COUNTED_OBSERVATION_STATUSES
            and panel.problem is None
            and panel.date is not None
            and window.contains(panel.date)
            and not component.value.is_empty
            and component.value.data_absent_reason is None
        ):
            if best is None or (best[0].date is not None and panel.date > best[0].date):
                best = (panel, component.value)
            break
    # The same for an impossible result of its own, newer than what would decide.
    for fact in s.observations.get(name, ()):
        if (
            fact.problem is not None
            and fact.problem.startswith(IMPLAUSIBLE)
            and fact.status in COUNTED_OBSERVATION_STATUSES
            and fact.date is not None
            and window.contains(fact.date)
            and (best is None or (best[0].date is not None and fact.date > best[0].date))
        ):
            raise Undecidable(f"latest result {fact.ref} on {day(fact)}: {fact.problem}")
    return best


# --------------------------------------------------------------------------- thresholds
def lab_threshold(p: LabThreshold, s: Screening, window: Window) -> Outcome:
    if p.component is not None:
        try:
            found = latest_component(s, p.component, window)
        except Undecidable as exc:
            return unknown_obs(p.label, str(exc))
        if found is None:
            return unknown_obs(p.label, f"no result in the last {window.days} days")
        return _threshold_one(p, s, found[0], found[1], p.component)
    return latest_decides(
        p.label, p.code_set, s, window, lambda f: _threshold_one(p, s, f, f.value, p.code_set)
    )


def _threshold_one(
    p: LabThreshold, s: Screening, fact: ObservationFact, value: ObservationValue, set_name: str
) -> Outcome:
    label, op, threshold, unit = p.label, p.op, p.value, p.unit
    try:
        reading = read_number(value, unit, s.code_set(set_name))
    except Undecidable as exc:
        return Outcome(UNKNOWN, f"{label}: {exc} ({fact.ref}, {day(fact)})", (obs_evidence(fact),))
    compared = reading.compared_with(threshold)
    status = compare(compared, reading.comparator, op, threshold)
    text = shown(reading)
    note = _converted_note(reading, compared, unit) if reading.converted else None
    evidence = (obs_evidence(fact, reading, note),)
    limit = f"{fmt(threshold)} {unit}" if not unit.startswith("{") else fmt(threshold)
    if status == MET:
        return Outcome(MET, f"{label} {text} on {day(fact)} {OP_TEXT[op]} {limit}", evidence)
    if status == NOT_MET:
        return Outcome(
            NOT_MET, f"{label} {text} on {day(fact)} is {NEGATED_TEXT[op]} {limit}", evidence
        )
    return Outcome(
        UNKNOWN, f"{label} {text} on {day(fact)} cannot be compared with {limit}", evidence
    )


def _converted_note(reading: Reading, compared: float, unit: str) -> str:
    """The converted value, and when it was taken as the threshold it rounds to, that too:
    the note must not show 9.99 beside a "≥ 10" that is met."""
    note = f"= {fmt(reading.value)} {unit}"
    if compared != reading.value:
        note += f", which is {fmt(compared)} {unit} at the precision reported"
    return note


def _pick_range(ranges: Sequence[ReferenceRange], sex: str | None) -> ReferenceRange | None:
    with_high = [r for r in ranges if r.high is not None and r.problem is None]
    if sex is not None and sex in _SEX_CODES:
        for r in with_high:
            if r.applies_to & _SEX_CODES[sex]:
                return r
    # Only a range that names no population applies to everyone: one for the other sex, or
    # for a population we cannot read (an appliesTo in text or local codes), never does.
    general = [r for r in with_high if not r.applies_to]
    if general:
        return general[0]
    return None


def _check_low_below(
    low: Quantity | None, high_unit: str | None, uln: float, unit: str, code_set: CodeSet
) -> None:
    """A range whose lower limit lies above its upper one is garbled (swapped limits, a
    typing slip): which of them is the ULN cannot be told."""
    if low is None:
        return
    low_unit = low.unit or high_unit
    try:
        lowest = convert_quantity(Quantity(low.value, low_unit), unit, code_set)
    except (UnitError, Undecidable):
        return  # a lower limit that cannot be compared says nothing about the upper one
    if lowest > uln:
        shown_low = f"{fmt(low.value)} {low_unit}" if low_unit else fmt(low.value)
        raise Undecidable(
            f"ULN unknown: the reference range's lower limit {shown_low} is above its upper limit"
        )


def lab_uln_multiple(p: LabUlnMultiple, s: Screening, window: Window) -> Outcome:
    return latest_decides(p.label, p.code_set, s, window, lambda f: _uln_one(p, s, f))


def _uln_one(p: LabUlnMultiple, s: Screening, fact: ObservationFact) -> Outcome:
    label, multiple = p.label, p.max_multiple
    code_set = s.code_set(p.code_set)
    quantity = fact.value.quantity
    if quantity is None:
        return Outcome(
            UNKNOWN, f"{label}: no numeric value ({fact.ref}, {day(fact)})", (obs_evidence(fact),)
        )
    sex = s.record.patient.gender
    chosen = _pick_range(fact.reference_ranges, sex)
    unit = code_set.canonical_unit or quantity.unit or ""
    try:
        value = convert_quantity(quantity, unit, code_set)
        if chosen is not None and chosen.high is not None:
            high = chosen.high
            # A range without a unit is in the value's (a unitless value got this far only
            # for a dimensionless criterion, INR: then neither has a unit).
            high_unit = high.unit or quantity.unit
            uln = convert_quantity(Quantity(high.value, high_unit), unit, code_set)
            shown_high = f"{fmt(high.value)} {high_unit}" if high_unit else fmt(high.value)
            assumed = high.unit is None and high_unit is not None
            _check_low_below(chosen.low, high_unit, uln, unit, code_set)
            source = f"ULN {shown_high} from the Observation's referenceRange" + (
                " (range unit assumed same as the value)" if assumed else ""
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
            default = s.terminology.default_limit(p.limit, "high", sex)
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
        if uln <= 0:
            # An upper limit of zero or below is no reference: every multiple of it is 0.
            raise Undecidable(f"ULN unknown: upper limit {fmt(uln)} {unit} is not above zero")
    except (Undecidable, UnitError) as exc:
        return Outcome(UNKNOWN, f"{label}: {exc} ({fact.ref}, {day(fact)})", (obs_evidence(fact),))
    reading = Reading(value, quantity.comparator, quantity.value, quantity.unit, False)
    limit = multiple * uln
    status = compare(value, quantity.comparator, "<=", limit)
    text = shown(reading)
    ratio = f"{fmt(value / uln)}× ULN" if quantity.comparator is None else "vs ULN"
    evidence = (obs_evidence(fact, reading, source),)
    if status == MET:
        out = f"{label} {text} on {day(fact)} ({ratio}) ≤ {fmt(multiple)}× ULN"
    elif status == NOT_MET:
        out = f"{label} {text} on {day(fact)} ({ratio}) is > {fmt(multiple)}× ULN"
    else:
        out = f"{label} {text} on {day(fact)} cannot be compared with {fmt(multiple)}× ULN"
    return Outcome(status, f"{out}; {source}", evidence)


# --------------------------------------------------------------------------- grades
def ordinal_grade(p: OrdinalGrade, s: Screening, window: Window) -> Outcome:
    label, below, suffix = p.label, p.below, p.grade_suffix
    code_set = s.code_set(p.code_set)
    candidate = s.latest_single(p.code_set, window)
    if candidate.fact is None:
        return unknown_obs(label, candidate.reason)
    fact = candidate.fact
    grade: float | None = None
    value = fact.value
    text: Any = None
    coded = {code_set.answers[code]: code for code in value.codes if code in code_set.answers}
    if len(coded) > 1:
        # Two codings of one answer that name different grades: which one the lab meant
        # cannot be told, so neither is taken.
        grades = ", ".join(
            code_set.displays.get(code, code[1]) for _, code in sorted(coded.items())
        )
        return Outcome(
            UNKNOWN,
            f"{label}: the result is coded as different grades ({grades}) ({fact.ref}, "
            f"{day(fact)})",
            (obs_evidence(fact),),
        )
    for grade_of_code, code in coded.items():
        grade, text = grade_of_code, code_set.displays.get(code, code[1])
    if grade is None and value.text is not None:
        key = value.text.strip().lower()
        if key in code_set.text_grades:
            grade, text = code_set.text_grades[key], value.text.strip()
    if grade is None and value.quantity is not None and code_set.canonical_unit:
        try:
            amount = convert_quantity(value.quantity, code_set.canonical_unit, code_set)
        except Undecidable as exc:
            return Outcome(
                UNKNOWN, f"{label}: {exc} ({fact.ref}, {day(fact)})", (obs_evidence(fact),)
            )
        comparator = value.quantity.comparator
        if comparator == "<":
            amount -= 1e-9  # the grade of the largest value it allows
        for upper, level in code_set.quantity_grades:
            if upper is None or amount < upper:
                grade = level
                break
        if value.quantity.value == 0 and comparator not in (">", ">="):
            grade = 0
        text = f"{comparator or ''}{fmt(value.quantity.value)} {value.quantity.unit}"
        if comparator in (">", ">=") and grade is not None:
            # ">300 mg/dL" is at least the grade of 300 (bands are closed below): surely
            # not below the limit when that grade reaches it; otherwise it cannot say.
            at_least = (Evidence(fact.ref, text, None, day(fact), f"grade {fmt(grade)} at least"),)
            if grade >= below:
                return Outcome(
                    NOT_MET, f"{label} {text} on {day(fact)} (≥ {fmt(below)}{suffix})", at_least
                )
            return Outcome(
                UNKNOWN,
                f"{label} {text} on {day(fact)} may be below or above {fmt(below)}{suffix}",
                at_least,
            )
        if comparator is not None and grade is not None and grade >= below:
            # "<300 mg/dL" is any grade up to 2+: below the limit or not, it cannot say.
            return Outcome(
                UNKNOWN,
                f"{label} {text} on {day(fact)} may be below or above {fmt(below)}{suffix}",
                (Evidence(fact.ref, text, None, day(fact), f"grade {fmt(grade)} at most"),),
            )
    if grade is None:
        return Outcome(
            UNKNOWN,
            f"{label}: result not readable as a grade ({fact.ref}, {day(fact)})",
            (obs_evidence(fact),),
        )
    evidence = (Evidence(fact.ref, text, None, day(fact), f"grade {fmt(grade)}"),)
    if grade < below:
        return Outcome(MET, f"{label} {text} on {day(fact)} (< {fmt(below)}{suffix})", evidence)
    return Outcome(NOT_MET, f"{label} {text} on {day(fact)} (≥ {fmt(below)}{suffix})", evidence)


# --------------------------------------------------------------------------- coded answers
def _latest_value(
    s: Screening, code_set: str, component: str | None, window: Window
) -> tuple[ObservationFact, ObservationValue] | str:
    if component is not None:
        try:
            found = latest_component(s, component, window)
        except Undecidable as exc:
            return str(exc)
        return found if found is not None else f"no result in the last {window.days} days"
    candidate = s.latest_single(code_set, window)
    if candidate.fact is None:
        return candidate.reason
    return candidate.fact, candidate.fact.value


def _silent(s: Screening, names: Sequence[str], window: Window) -> bool:
    """No result of the code sets `names` that could be current: nothing dated inside the
    window, undated or after the screening date, whatever its status (only void ones, such as
    entered-in-error, are ignored) or whether its value can be read. Observations that could
    not be retrieved are not silence."""
    if s.unavailable("Observation") is not None:
        return False
    facts = [f for n in names for f in s.observations.get(n, ())]
    facts += [panel for n in names for panel, _ in s.components.get(n, ())]
    return not any(
        f.status not in VOID_OBSERVATION_STATUSES and (f.date is None or f.date >= window.start)
        for f in facts
    )


def coded_value(p: CodedValue, s: Screening, window: Window) -> Outcome:
    found = _latest_value(s, p.code_set, p.component, window)
    if isinstance(found, str):
        names = [p.code_set] if p.component is None else [p.code_set, p.component]
        if p.absence == "not_met" and _silent(s, names, window):
            what = f"{lower_first(p.label)} in the last {window.days} days"
            on_record = len(s.record.observations) + s.record.older_observations
            return absent(s, "not_met", "Observation", on_record, what, "result")
        return unknown_obs(p.label, found)
    fact, value = found
    codes = value.codes | (fact.interpretation if p.component is None else frozenset())
    code = sorted(value.codes)[0][1] if value.codes else value.text
    evidence = (Evidence(fact.ref, code, None, day(fact), p.label),)
    yes = s.code_set(p.met_values).matches(codes)
    no = s.code_set(p.not_met_values).matches(codes)
    if yes and not no:
        return Outcome(MET, f"{p.label}: {p.met_text} on {day(fact)}", evidence)
    if no and not yes:
        return Outcome(NOT_MET, f"{p.label}: {p.not_met_text} on {day(fact)}", evidence)
    why = "conflicting codes" if yes and no else "answer not one this criterion reads"
    return Outcome(UNKNOWN, f"{p.label}: {why} ({fact.ref}, {day(fact)})", evidence)


def ordered_category(p: OrderedCategory, s: Screening, window: Window) -> Outcome:
    candidate = s.latest_single(p.code_set, window)
    if candidate.fact is None:
        return unknown_obs(p.label, candidate.reason)
    fact = candidate.fact
    values = s.code_set(p.values)
    categories = {g for code in fact.value.codes if (g := values.group_of(code)) is not None}
    shown_code = sorted(fact.value.codes)[0][1] if fact.value.codes else fact.value.text
    if len(categories) != 1:
        why = "several categories" if categories else "not a category on this scale"
        return Outcome(
            UNKNOWN,
            f"{p.label}: {why} ({fact.ref}, {day(fact)})",
            (Evidence(fact.ref, shown_code, None, day(fact), p.label),),
        )
    (category,) = categories
    possible = p.aliases.get(category, [category])
    evidence = (Evidence(fact.ref, category, None, day(fact), p.label),)
    position = {name: i for i, name in enumerate(p.scale)}
    if any(c not in position for c in possible):
        # TX / NX: the category was not assessed, which decides nothing.
        return Outcome(UNKNOWN, f"{p.label} {category} on {day(fact)}: not assessable", evidence)
    low, high = position[p.min], position[p.max]
    inside = [low <= position[c] <= high for c in possible]
    wanted = p.min if p.min == p.max else f"{p.min}–{p.max}"
    if all(inside):
        return Outcome(MET, f"{p.label} {category} on {day(fact)}, within {wanted}", evidence)
    if not any(inside):
        return Outcome(NOT_MET, f"{p.label} {category} on {day(fact)}, not {wanted}", evidence)
    return Outcome(
        UNKNOWN,
        f"{p.label} {category} on {day(fact)} may or may not be within {wanted} "
        f"(could be {', '.join(possible)})",
        evidence,
    )


# --------------------------------------------------------------------------- imaging
def measurable_disease(p: MeasurableDisease, s: Screening, window: Window) -> Outcome:
    flag_search = s.latest_single(p.flag_code_set, window)
    flag = flag_search.fact
    if flag is not None and flag.value.boolean is not None:
        evidence = (obs_evidence(flag),)
        if flag.value.boolean:
            return Outcome(MET, f"{p.label} recorded on {day(flag)}", evidence)
        return Outcome(
            NOT_MET, f"No {p.label[0].lower()}{p.label[1:]} recorded on {day(flag)}", evidence
        )
    if (why := s.unavailable("Observation")) is not None:
        return Outcome(UNKNOWN, f"Observations could not be retrieved ({why})")
    code_set = s.code_set(p.size_code_set)
    minimum, unit = p.min_size, p.unit
    sizes: list[tuple[float, ObservationFact]] = []
    for fact in s.observations.get(p.size_code_set, ()):
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
        # Say why the flag did not count (stale, preliminary...) when there is one.
        detail = flag_search.reason.partition("; ")[2]
        return Outcome(
            UNKNOWN,
            f"No {p.assessment} assessment or tumour size in the last {window.days} days"
            + (f" ({detail})" if detail else ""),
        )
    size, fact = max(sizes, key=lambda x: x[0])
    evidence = (obs_evidence(fact),)
    if size >= minimum:
        return Outcome(
            MET, f"Lesion of {fmt(size)} {unit} on {day(fact)} (≥ {fmt(minimum)} {unit})", evidence
        )
    return Outcome(
        UNKNOWN,
        f"Largest recorded lesion {fmt(size)} {unit} (< {fmt(minimum)} {unit}); "
        "measurability needs a radiologist",
        evidence,
    )


# --------------------------------------------------------------------------- tumour biology
def _protein(name: str) -> str:
    # Protein names come from the code-set names (mmr_mlh1 → MLH1).
    return name.rpartition("_")[2].upper()


def msi_mmr(p: MsiMmr, s: Screening, window: Window) -> Outcome:
    if (why := s.unavailable("Observation")) is not None:
        return Outcome(UNKNOWN, f"Observations could not be retrieved ({why})")
    stable, high = s.code_set(p.stable_values), s.code_set(p.high_values)
    intact, loss = s.code_set(p.intact_values), s.code_set(p.loss_values)
    msi_search = s.latest_single(p.msi, window)
    msi = msi_search.fact
    proteins: dict[str, tuple[ObservationFact, ObservationValue] | None] = {}
    for name in p.proteins:
        found: tuple[ObservationFact, ObservationValue] | None = None
        own = s.latest_single(name, window).fact
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
        return Evidence(fact.ref, code, None, day(fact), note)

    evidence: list[Evidence] = []
    msi_high = msi is not None and high.matches(msi.value.codes)
    if msi is not None:
        evidence.append(ev(msi, msi.value, "microsatellite instability"))
    for name, found in proteins.items():
        if found:
            evidence.append(ev(found[0], found[1], _protein(name)))
    unique = tuple(dict.fromkeys(evidence))
    if msi_high or lost:
        parts = []
        if msi_high and msi is not None:
            parts.append(f"MSI-high on {day(msi)}")
        if lost:
            parts.append(
                "loss of " + ", ".join(_protein(n) for n, _ in lost) + " expression (dMMR)"
            )
        return Outcome(NOT_MET, "; ".join(parts), unique)
    if msi_search.conflicting:
        # "MSS" and "MSI-H" for one day: not stable, and retained proteins cannot settle it.
        return Outcome(
            UNKNOWN,
            f"MSI: {msi_search.reason}",
            tuple(ev(f, f.value, "microsatellite instability") for f in msi_search.conflicting),
        )
    if msi is not None and stable.matches(msi.value.codes):
        return Outcome(MET, f"Microsatellite stable (MSS) on {day(msi)}", unique)
    names = [_protein(n) for n in proteins]
    if len(kept) == len(proteins):
        listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
        return Outcome(MET, f"pMMR: {listed} expression retained", unique)
    if msi is None and not any(proteins.values()):
        if s.observations.get(p.msi):  # on record but none usable: say which and why
            return Outcome(UNKNOWN, f"No usable MSI or MMR result: MSI {msi_search.reason}", unique)
        return Outcome(UNKNOWN, "No MSI or MMR result on record", unique)
    missing = [
        _protein(n)
        for n, f in proteins.items()
        if f is None or not (intact.matches(f[1].codes) or loss.matches(f[1].codes))
    ]
    parts = []
    if msi is not None:
        # Named as the lab sent it (MSI-L, Indeterminate, a local word): neither stable
        # nor high, it is for the protocol and the study team to place.
        displays = s.code_set(p.msi).displays
        named = msi.value.text or next(
            (displays[c] for c in sorted(msi.value.codes) if c in displays), None
        )
        if named is None or named.strip().lower() == "indeterminate":
            parts.append(f"MSI result on {day(msi)} is indeterminate")
        else:
            parts.append(f"MSI result on {day(msi)} is {named}: neither stable nor high")
    if missing:
        parts.append("MMR immunohistochemistry incomplete: " + ", ".join(missing) + " not reported")
    return Outcome(UNKNOWN, "; ".join(parts), unique)


# Registered here, not with a decorator on each function: mutation testing (scripts/mutate)
# leaves decorated functions unmutated, and these bodies decide the criteria.
rule(LabThreshold)(lab_threshold)
rule(LabUlnMultiple)(lab_uln_multiple)
rule(OrdinalGrade)(ordinal_grade)
rule(CodedValue)(coded_value)
rule(OrderedCategory)(ordered_category)
rule(MeasurableDisease)(measurable_disease)
rule(MsiMmr)(msi_mmr)
