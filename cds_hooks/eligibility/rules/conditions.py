"""Rules on Conditions: the trial's diagnosis, other conditions present or absent, the
recorded histology, distinct counts (organ sites) and oligometastatic disease."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from cds_hooks.eligibility.context import (
    EXCLUDED_VERIFICATION,
    Screening,
    Window,
)
from cds_hooks.eligibility.rules.base import (
    FINAL_REPORT_STATUSES,
    INACTIVE_CLINICAL,
    MET,
    NOT_MET,
    UNKNOWN,
    Evidence,
    Outcome,
    absent,
    cond_evidence,
    day,
    lower_first,
    not_confirmed,
    not_read,
    obs_evidence,
    plain_value,
    unreadable,
    unusable,
    unusable_outcome,
)
from cds_hooks.eligibility.rules.registry import rule
from cds_hooks.eligibility.values import NEGATED_TEXT, OP_TEXT, compare, fmt
from cds_hooks.trials.params import (
    ConditionPresent,
    Diagnosis,
    DistinctCount,
    Histology,
    Oligometastases,
)
from fhir_mappings.facts import (
    COUNTED_OBSERVATION_STATUSES,
    ICDO3,
    Code,
    ConditionFact,
    DiagnosticReportFact,
    ObservationFact,
)
from fhir_mappings.terminology import CodeSet

# How a reason names the marker, so a reviewer can find it in the record.
STATUS_POST = "ICD-10-GM certainty Z"


def _uncoded(
    s: Screening, names: Sequence[str], span: Window | None = None, *, active_only: bool = False
) -> list[ConditionFact]:
    """Conditions none of whose codes the sets `names` can read (text only, no code, or
    local codes only) that could be the one a rule looks for: not refuted, not inactive
    when only active ones count, and not dated outside `span`. A rule must not conclude
    from silence while one of them is on record."""
    sets = [s.code_set(n) for n in names]
    return [
        c
        for c in s.record.conditions
        if unreadable(c.codes, sets)
        and c.verification_status not in EXCLUDED_VERIFICATION
        and not (active_only and c.clinical_status in INACTIVE_CLINICAL)
        and (span is None or c.date is None or span.contains(c.date))
    ]


_AS_STATUS_POST = (f"coded as status post ({STATUS_POST})", "status post")


def _may_be_over(c: ConditionFact) -> tuple[str, str] | None:
    """How a record says its condition may be over while not saying it is (status post,
    or an abatement under a status that is not inactive): (reason words, evidence note)."""
    if c.status_post:
        return _AS_STATUS_POST
    if c.abated is not None:
        status = f"marked {c.clinical_status}" if c.clinical_status else "without a clinical status"
        return (f"{status} but abated ({c.abated})", "abated")
    return None


def _over_words(c: ConditionFact) -> tuple[str, str]:
    """`_may_be_over` of a record already known to be maybe over."""
    return _may_be_over(c) or _AS_STATUS_POST


_AS_SUSPECTED = ("suspected, not confirmed", "suspected, not confirmed")


def _undecided(
    prefix: str, marked: list[ConditionFact], marker: tuple[str, str] | None, consequence: str
) -> Outcome:
    """Unknown because of records that can neither count nor be ignored (suspected, or
    maybe over), named by the first of them: "<prefix><record> is <marker>: <why>".
    Without `marker`, each record's own `_may_be_over` words are used."""
    c = marked[0]
    return Outcome(
        UNKNOWN,
        f"{prefix}{c.display or c.ref} is {(marker or _over_words(c))[0]}: {consequence}",
        tuple(cond_evidence(x, (marker or _over_words(x))[1]) for x in marked),
    )


def _uncoded_outcome(label: str, uncoded: list[ConditionFact], what: str) -> Outcome:
    c = uncoded[0]
    return Outcome(
        UNKNOWN,
        f"{label}: {not_read(c.ref, c.codes, '', c.display)}; {what}",
        tuple(cond_evidence(x, "no readable code") for x in uncoded),
    )


def _unavailable(s: Screening) -> Outcome | None:
    if (why := s.unavailable("Condition")) is not None:
        return Outcome(UNKNOWN, f"Conditions could not be retrieved ({why})")
    return None


# --------------------------------------------------------------------------- diagnosis
def diagnosis(p: Diagnosis, s: Screening, window: Window) -> Outcome:
    if (failed := _unavailable(s)) is not None:
        return failed
    confirmed = [c for n in p.confirmed_code_sets for c in s.conditions(n)]
    disease = [c for n in p.disease_code_sets for c in s.conditions(n)]
    histology_sets = [s.code_set(n) for n in p.histology_code_sets]

    def has_histology(c: ConditionFact) -> bool:
        return any(h.matches(c.histology) for h in histology_sets)

    candidates = [*confirmed, *[c for c in disease if c not in confirmed]]
    active = [c for c in candidates if c.clinical_status not in INACTIVE_CLINICAL]
    suspected = [c for c in active if c.suspected]
    if suspected and len(suspected) == len(active):
        return Outcome(
            UNKNOWN,
            f"{suspected[0].display or p.label} {not_confirmed(suspected[0].verification_status)}",
            tuple(cond_evidence(c, "suspected, not confirmed") for c in suspected),
        )
    active = [c for c in active if not c.suspected]
    past = [c for c in active if _may_be_over(c)]
    active = [c for c in active if not _may_be_over(c)]
    if not candidates:
        refuted = [
            c
            for n in (*p.confirmed_code_sets, *p.disease_code_sets)
            for c in s.refuted_conditions(n)
        ]
        note = (
            f" ({', '.join(c.ref for c in refuted)} is refuted or entered in error)"
            if refuted
            else ""
        )
        # A diagnosis written only as text ("Rektumkarzinom") or in local codes may be the
        # one looked for: its absence from the code sets proves nothing.
        uncoded = _uncoded(s, (*p.confirmed_code_sets, *p.disease_code_sets))
        if uncoded:
            return _uncoded_outcome(p.label, uncoded, "it may be the diagnosis looked for")
        if skipped := unusable(s, "Condition"):
            return unusable_outcome(p.label, skipped)
        text = p.absent_reason
        return Outcome(
            NOT_MET,
            text[0].upper() + text[1:] + note,
            tuple(cond_evidence(c, "not counted") for c in refuted),
        )
    if not active and past:
        return Outcome(
            UNKNOWN,
            f"{past[0].display or p.label} is {_over_words(past[0])[0]}; confirm current disease",
            tuple(cond_evidence(c, _over_words(c)[1]) for c in past),
        )
    if not active:
        return Outcome(
            UNKNOWN,
            f"{p.label} on record is marked "
            f"{candidates[0].clinical_status}; confirm current disease",
            tuple(cond_evidence(c) for c in candidates),
        )
    histologic = [c for c in active if c in confirmed or has_histology(c)]
    reports: list[DiagnosticReportFact | PathologyFinding] = [
        r
        for r in s.record.reports
        if r.status in FINAL_REPORT_STATUSES
        and r.date
        and any(h.matches(r.conclusion_codes) for h in histology_sets)
    ]
    # Histology may also come as a final pathology Observation (value: the morphology).
    reports += [
        PathologyFinding(o.ref, o.date, o.display or "histology")
        for name in p.pathology_code_sets
        for o in s.observations.get(name, ())
        if o.status in COUNTED_OBSERVATION_STATUSES
        and o.date
        and o.problem is None
        and any(h.matches(o.value.codes) for h in histology_sets)
    ]
    if histologic:
        dated = [c for c in histologic if c.date is not None]
        if not dated:
            return Outcome(
                UNKNOWN,
                f"{p.label} has no onset or recorded date",
                tuple(cond_evidence(c) for c in histologic),
            )
        inside = [c for c in dated if c.date is not None and window.contains(c.date)]
        if not inside:
            return outside_window(dated[0], window, p.label)
        best = inside[0]
        how = (
            f"diagnosis code states {p.histology_name}"
            if best in confirmed
            else "histology recorded on the diagnosis"
        )
        return Outcome(
            MET,
            f"{best.display or p.label} on {day(best)} ({how})",
            (cond_evidence(best, how),),
        )
    dated = [c for c in active if c.date is not None and window.contains(c.date)]
    reports = [r for r in reports if r.date is not None and window.contains(r.date)]
    if reports and dated:
        report = reports[0]
        return Outcome(
            MET,
            f"{dated[0].display or p.label} with histology in {report.ref} on {day(report)}",
            (
                cond_evidence(dated[0]),
                Evidence(report.ref, report.conclusion, None, day(report), "pathology conclusion"),
            ),
        )
    return Outcome(
        UNKNOWN,
        f"{active[0].display or p.label} on record without histology "
        f"({p.histology_name} not confirmed)",
        tuple(cond_evidence(c) for c in active),
    )


@dataclass(frozen=True, slots=True)
class PathologyFinding:
    """A pathology Observation stating the histology, read like a report conclusion."""

    ref: str
    date: date | None
    conclusion: str


def outside_window(condition: ConditionFact, window: Window, label: str) -> Outcome:
    what = condition.display or label
    if condition.date is not None and condition.date > window.as_of:
        why = "after the screening date"
    else:
        age = (window.as_of - condition.date).days if condition.date else "?"
        why = f"{age} days ago, before this criterion's {window.days}-day window"
    return Outcome(UNKNOWN, f"{what} dated {day(condition)}, {why}", (cond_evidence(condition),))


# --------------------------------------------------------------------------- presence
def _only_broadly(c: ConditionFact, wanted: list[CodeSet], broad: list[CodeSet]) -> bool:
    """Every code of `c` that a wanted set matches is also in a broad set."""
    return not any(
        w.matches_code(code) and not any(b.matches_code(code) for b in broad)
        for code in c.codes
        for w in wanted
    )


def condition(p: ConditionPresent, s: Screening, window: Window) -> Outcome:
    if (failed := _unavailable(s)) is not None:
        return failed
    days = p.within_days or window.days
    span = Window(window.as_of, days)
    excepted = [s.code_set(n) for n in p.except_code_sets]
    broad = [s.code_set(n) for n in p.uncertain_code_sets]
    wanted = [s.code_set(n) for n in p.code_sets] if broad else []
    found: list[ConditionFact] = []
    unclear: list[ConditionFact] = []  # active_only, but no clinical status recorded
    past: list[ConditionFact] = []  # active_only, but coded as status post
    uncertain: list[ConditionFact] = []  # coded too broadly to count or clear
    for name in p.code_sets:
        for c in s.conditions(name):
            if c in found or c in unclear or c in past or c in uncertain:
                continue
            if any(e.matches(c.codes) for e in excepted):
                continue
            if p.active_only and c.clinical_status in INACTIVE_CLINICAL:
                continue
            if broad and _only_broadly(c, wanted, broad):
                uncertain.append(c)
            elif p.active_only and _may_be_over(c):
                past.append(c)
            else:
                (unclear if p.active_only and c.clinical_status is None else found).append(c)
    # A suspected condition (provisional, differential, unconfirmed) can neither be counted
    # nor ignored: it decides nothing unless a confirmed one does.
    suspected = [c for c in found if c.suspected]
    found = [c for c in found if not c.suspected]
    inside = [c for c in found if c.date is not None and span.contains(c.date)]
    straddling: list[ConditionFact] = []
    if p.within_days is not None or not p.active_only:
        # Asked when it happened: a partial onset ("2025") read through a later recordedDate
        # may lie before the window. Wholly inside it counts, wholly before it is history,
        # across its start it cannot be told.
        timed = []
        for c in inside:
            if c.onset_span is None or c.onset_span[0] >= span.start:
                timed.append(c)
            elif c.onset_span[1] >= span.start:
                straddling.append(c)
        inside = timed
    if inside:
        best = inside[0]
        state = f", {best.clinical_status}" if best.clinical_status else ""
        return Outcome(
            MET,
            f"{p.label}: {best.display or 'condition'} on {day(best)}{state}",
            (cond_evidence(best),),
        )
    if straddling:
        c = straddling[0]
        first, last = c.onset_span or (None, None)
        return Outcome(
            UNKNOWN,
            f"{p.label}: {c.display or c.ref} with onset only as {first}–{last} (recorded "
            f"{day(c)}): whether it lies inside the {days}-day window cannot be told",
            tuple(cond_evidence(x, "partial onset date") for x in straddling),
        )
    # An older broad code is history, like an older match, unless the rule asks what is
    # present now (then, still active, it may be the condition looked for).
    if not (p.active_only and p.within_days is None):
        uncertain = [c for c in uncertain if c.date is None or c.date >= span.start]
    if uncertain:
        c = uncertain[0]
        why = "; ".join(cs.description for cs in broad if cs.matches(c.codes))
        return Outcome(
            UNKNOWN,
            f"{p.label}: {c.display or c.ref}{f' on {day(c)}' if c.date else ''} is coded too "
            f"broadly to tell ({why})",
            tuple(cond_evidence(x, "coded too broadly to tell") for x in uncertain),
        )
    if suspected:
        c = suspected[0]
        return Outcome(
            UNKNOWN,
            f"{p.label}: {c.display or c.ref} {not_confirmed(c.verification_status)}",
            tuple(cond_evidence(x, "suspected, not confirmed") for x in suspected),
        )
    undated = [c for c in found if c.date is None]
    if undated:
        return Outcome(
            UNKNOWN,
            f"{p.label}: {undated[0].display or undated[0].ref} on record without a date",
            tuple(cond_evidence(c) for c in undated),
        )
    if unclear:
        return Outcome(
            UNKNOWN,
            f"{p.label}: {unclear[0].display or unclear[0].ref} on record without a clinical "
            "status (active or not?)",
            tuple(cond_evidence(c) for c in unclear),
        )
    if past:
        return _undecided(f"{p.label}: ", past, None, "whether it is still active is not recorded")
    later = [c for c in found if c.date is not None and c.date > span.as_of]
    if later:
        # On record but dated after the screening date (a clock or time-zone slip): it can
        # neither be counted inside the window nor cleared as absent.
        c = later[0]
        return Outcome(
            UNKNOWN,
            f"{p.label}: {c.display or c.ref} dated {day(c)}, after the screening date",
            tuple(cond_evidence(x) for x in later),
        )
    uncoded = _uncoded(s, p.code_sets, span, active_only=p.active_only)
    if uncoded:
        return _uncoded_outcome(p.label, uncoded, "it may be the condition looked for")
    older = [c for c in found if c.date is not None and c.date < span.start]
    if older and p.active_only and p.within_days is None:
        # Asked whether it is present now, the record says it still is: a metastasis
        # diagnosed before the window and never closed cannot clear the patient, and a
        # date outside the window cannot count as current either.
        c = older[0]
        return Outcome(
            UNKNOWN,
            f"{p.label}: {c.display or c.ref} on {day(c)} is still recorded as "
            f"{c.clinical_status}, but dated before the {days}-day window: whether it is "
            "current is not recorded",
            tuple(cond_evidence(x, f"still {x.clinical_status}, before the window") for x in older),
        )
    if older:
        # Outside the window is an answer, not silence: the dated record decides.
        c = older[0]
        return Outcome(
            NOT_MET,
            f"{p.label}: only {c.display or c.ref} on {day(c)}, more than {days} days ago",
            (cond_evidence(c, f"before the {days}-day window"),),
        )
    return absent(
        s,
        p.absence,
        "Condition",
        len(s.record.conditions),
        lower_first(p.label),
        "condition",
    )


def histology(p: Histology, s: Screening, window: Window) -> Outcome:
    if (failed := _unavailable(s)) is not None:
        return failed
    sets = [s.code_set(n) for n in p.histology_code_sets]
    primaries = [
        c
        for n in p.disease_code_sets
        for c in s.conditions(n)
        if c.clinical_status not in INACTIVE_CLINICAL
    ]
    recorded: list[tuple[str, str | None, frozenset[Code], Evidence]] = []
    for c in primaries:
        if c.histology:
            recorded.append((c.ref, day(c), c.histology, cond_evidence(c, "histology")))

    def histologic(codes: frozenset[Code]) -> frozenset[Code]:
        return frozenset(
            c for c in codes if c[0] == ICDO3 or any(cs.matches_code(c) for cs in sets)
        )

    if s.unavailable("DiagnosticReport") is None:
        for r in s.record.reports:
            codes = histologic(r.conclusion_codes)
            if r.status in FINAL_REPORT_STATUSES and r.date and codes:
                recorded.append(
                    (
                        r.ref,
                        day(r),
                        codes,
                        Evidence(r.ref, r.conclusion, None, day(r), "pathology conclusion"),
                    )
                )
    for name in p.pathology_code_sets:
        for o in s.observations.get(name, ()):
            codes = histologic(o.value.codes)
            if o.status in COUNTED_OBSERVATION_STATUSES and o.date and o.problem is None and codes:
                recorded.append((o.ref, day(o), codes, obs_evidence(o, note="pathology finding")))
    hits = [x for x in recorded if any(cs.matches(x[2]) for cs in sets)]
    if hits:
        ref, when, _, ev = hits[0]
        return Outcome(MET, f"{p.label}: recorded in {ref} on {when}", (ev,))
    if recorded:
        ref, when, _, ev = recorded[0]
        return Outcome(NOT_MET, f"{p.label}: not the histology recorded in {ref} on {when}", (ev,))
    return Outcome(UNKNOWN, f"{p.label}: no histology recorded on the diagnosis or a report")


# --------------------------------------------------------------------------- counts
def _group(c: ConditionFact, s: Screening, names: list[str], group_set: str) -> str | None:
    group: str | None = None
    for code in c.codes:
        for name in names:
            found = s.code_set(name).group_of(code)
            if found and found != "unspecified":
                group = found
    if group is None:
        for code in c.body_sites:
            group = s.code_set(group_set).group_of(code) or group
    return group


def distinct_count(p: DistinctCount, s: Screening, window: Window) -> Outcome:
    if (failed := _unavailable(s)) is not None:
        return failed
    found = [
        c
        for n in p.code_sets
        for c in s.conditions(n)
        if c.clinical_status not in INACTIVE_CLINICAL
    ]
    found = list(dict.fromkeys(found))
    suspected = [c for c in found if c.suspected]
    if suspected:
        # A suspected record can neither be counted nor ignored.
        return _undecided(
            f"{p.label}: ", suspected, _AS_SUSPECTED, "the count cannot be established"
        )
    past = [c for c in found if _may_be_over(c)]
    if past:
        # Gone or still there: it can neither be counted nor ignored either.
        return _undecided(f"{p.label}: ", past, None, "the count cannot be established")
    uncoded = _uncoded(s, p.code_sets, window, active_only=True)
    if uncoded:
        return _uncoded_outcome(p.label, uncoded, "it may be one more to count")
    inside = [c for c in found if c.date is not None and window.contains(c.date)]
    if len(inside) < len(found):
        return Outcome(
            UNKNOWN,
            f"{p.label}: {len(found) - len(inside)} record(s) undated or outside the "
            f"{window.days}-day window",
            tuple(cond_evidence(c) for c in found),
        )
    groups: set[str] = set()
    for c in inside:
        g = _group(c, s, p.code_sets, p.group_code_set)
        if g is None:
            return Outcome(
                UNKNOWN,
                f"{p.label}: the site of {c.ref} cannot be determined",
                tuple(cond_evidence(x) for x in inside),
            )
        groups.add(g)
    count = len(groups)
    status = compare(float(count), None, p.op, float(p.value))
    ev = tuple(cond_evidence(c) for c in inside)
    listed = f" ({', '.join(sorted(groups))})" if groups else ""
    verb = OP_TEXT[p.op] if status == MET else NEGATED_TEXT[p.op]
    if not inside:
        # Zero is a count only when the record's silence is the evidence.
        return Outcome(UNKNOWN, f"{p.label}: none on record")
    return Outcome(status, f"{p.label}: {count}{listed} {verb} {p.value}", ev)


# --------------------------------------------------------------------------- oligometastases
def _coded(fact: ObservationFact | None, values: object) -> bool:
    return fact is not None and values.matches(fact.value.codes)  # type: ignore[attr-defined]


def _shown_count(fact: ObservationFact) -> str:
    quantity = fact.value.quantity
    if quantity is not None:
        return f"{quantity.comparator or ''}{fmt(quantity.value)}"
    return str(plain_value(fact.value)[0])


def oligometastases(p: Oligometastases, s: Screening, window: Window) -> Outcome:
    if (failed := _unavailable(s)) is not None:
        return failed
    mets = [
        c
        for n in p.secondary_code_sets
        for c in s.conditions(n)
        if c.clinical_status not in INACTIVE_CLINICAL
    ]
    suspected = [c for c in mets if c.suspected]
    if suspected:
        # A suspected metastasis can neither be counted nor ignored.
        return _undecided(
            "Metastasis ", suspected, _AS_SUSPECTED, "the number of sites cannot be established"
        )
    past = [c for c in mets if _may_be_over(c)]
    if past:
        # A resected or treated metastasis may be gone: the sites cannot be counted.
        return _undecided("Metastasis ", past, None, "the number of sites cannot be established")
    m_stage = s.latest_single(p.m_stage, window).fact
    m0 = _coded(m_stage, s.code_set(p.m0_values))
    lesion_search = s.latest_single(p.lesion_count, window)
    site_search = s.latest_single(p.site_count, window)
    lesions_fact, sites_fact = lesion_search.fact, site_search.fact
    evidence: list[Evidence] = [cond_evidence(c) for c in mets]
    if m_stage is not None:
        evidence.append(obs_evidence(m_stage, note="M category"))
    if m0 and not mets and m_stage is not None:
        return Outcome(
            NOT_MET, f"Staged M0 (no distant metastasis) on {day(m_stage)}", tuple(evidence)
        )
    if m0 and mets:
        return Outcome(
            UNKNOWN, "Staged M0 but metastases are on record: conflicting staging", tuple(evidence)
        )
    # Distinct organ sites from the metastasis conditions.
    groups: set[str] = set()
    undetermined: list[ConditionFact] = []
    for c in mets:
        group = _group(c, s, p.secondary_code_sets, p.body_site_code_set)
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
        evidence.append(obs_evidence(lesions_fact, note="metastatic lesions"))
    if sites_fact is not None:
        evidence.append(obs_evidence(sites_fact, note="metastatic sites"))
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
    if site_total is not None and len(groups) > site_total:
        # Metastasis diagnoses in more organs than the imaging summary counts: one of the
        # two is out of date, and only a person can say which. A metastasis of no known
        # site can only add an organ, so it does not resolve the conflict.
        return Outcome(
            UNKNOWN,
            f"{site_total} metastatic site{'s' if site_total != 1 else ''} recorded but "
            f"metastases on record in {len(groups)} organs ({', '.join(sorted(groups))}): "
            "conflicting",
            ev,
        )
    if sites is not None and sites > p.max_sites:
        return Outcome(NOT_MET, f"{site_text}: more than {p.max_sites}", ev)
    if sites is None and len(groups) > p.max_sites:
        # A metastasis of no known site leaves the exact count open, not its lower bound.
        return Outcome(
            NOT_MET,
            f"At least {len(groups)} metastatic sites ({', '.join(sorted(groups))}): "
            f"more than {p.max_sites}",
            ev,
        )
    if lesions is not None and lesions > p.max_lesions:
        return Outcome(NOT_MET, f"{lesions} metastatic lesions: more than {p.max_lesions}", ev)
    for search, what in ((site_search, "site"), (lesion_search, "lesion")):
        if search.conflicting:
            # Two counts for one day: neither is the count, and the diagnoses cannot
            # stand in for it (they give only a lower bound).
            return Outcome(
                UNKNOWN,
                f"Metastatic {what} count: {search.reason}",
                ev + tuple(obs_evidence(f, note=f"metastatic {what}s") for f in search.conflicting),
            )
    for fact, what in ((sites_fact, "site"), (lesions_fact, "lesion")):
        if fact is not None and count(fact) is None:
            # ">2 sites" or "2.5 lesions" is a result but not a count: neither a number to
            # compare nor a missing one to replace with the diagnoses.
            return Outcome(
                UNKNOWN,
                f"Metastatic {what} count {fact.ref} on {day(fact)} is {_shown_count(fact)}, "
                "not an exact whole number",
                ev,
            )
    if not mets and site_total is None and lesions is None:
        return Outcome(UNKNOWN, "No metastasis on record", ev)
    # Synchronous: metastases found around the time of the primary diagnosis.
    within = p.synchronous_within_days
    primaries = [c for n in p.disease_code_sets for c in s.conditions(n)]
    dated = [c for c in primaries if c.date]
    if within is not None and mets and not dated:
        # Synchronous means "around the primary's diagnosis": without its date (or without
        # the primary) a metastasis a year later would pass for synchronous.
        why = (
            f"the primary diagnosis {primaries[0].ref} has no date"
            if primaries
            else "no primary diagnosis is on record"
        )
        return Outcome(UNKNOWN, f"Synchronous or metachronous cannot be told: {why}", ev)
    if within is not None and mets:
        first = min(c.date for c in dated if c.date)
        late = [
            (c, (c.date - first).days) for c in mets if c.date and (c.date - first).days > within
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
    if sites == 0:
        # No metastatic site is not oligometastatic disease (as staged M0 is not).
        if lesions == 0 and not mets:
            return Outcome(NOT_MET, f"{site_text}, 0 lesions: no distant metastasis", ev)
        return Outcome(
            UNKNOWN,
            f"{site_text} recorded, but {lesions} lesions"
            + (" and metastases on record" if mets else "")
            + ": inconsistent",
            ev,
        )
    if lesions < sites:
        return Outcome(
            UNKNOWN, f"{site_text} but only {lesions} lesions recorded: inconsistent", ev
        )
    if site_total is None and (
        uncoded := _uncoded(s, p.secondary_code_sets, window, active_only=True)
    ):
        # The sites were counted from coded diagnoses: an uncoded one may be another site.
        return _uncoded_outcome(
            f"{site_text}, {lesions} lesions", uncoded, "it may be another metastatic site"
        )
    return Outcome(
        MET,
        f"{site_text}, {lesions} lesions (≤ {p.max_sites} sites, ≤ {p.max_lesions} lesions)",
        ev,
    )


# Registered here, not with a decorator on each function: mutation testing (scripts/mutate)
# leaves decorated functions unmutated, and these bodies decide the criteria.
rule(Diagnosis)(diagnosis)
rule(ConditionPresent)(condition)
rule(Histology)(histology)
rule(DistinctCount)(distinct_count)
rule(Oligometastases)(oligometastases)
