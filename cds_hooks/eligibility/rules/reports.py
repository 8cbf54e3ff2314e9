"""Numbers from reports: a coded Observation when there is one, else the length a final
report of the named modality states just before the definition's anchor phrase."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from cds_hooks.eligibility.context import Screening, Window
from cds_hooks.eligibility.rules.base import (
    FINAL_REPORT_STATUSES,
    MET,
    NOT_MET,
    UNKNOWN,
    Evidence,
    Outcome,
    day,
    obs_evidence,
    shown,
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
from cds_hooks.trials.params import ReportNumber
from fhir_mappings.units import UnitError, convert

_NUMBER = r"\d+(?:[.,]\d+)?"
_LENGTH = rf"{_NUMBER}\s*(?:cm|mm)\b"
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


@lru_cache(maxsize=32)
def _pattern(anchor: str) -> re.Pattern[str]:
    """A length followed, within the same clause, by the anchor phrase with no other length
    in between: in "a 3 cm mass 8 cm from the anal verge" the distance is 8 cm, not the
    size. A qualifier just before the number ("more than 10 cm", "within 5 cm") makes it
    an interval, compared like a Quantity comparator."""
    words = r"\s+".join(re.escape(w) for w in anchor.split())
    return re.compile(
        r"(?:\b(more\s+than|greater\s+than|over|beyond|at\s+least|less\s+than|under|within"
        r"|up\s+to)\s+|([<>]=?|[≤≥])\s*)?"
        rf"({_NUMBER})\s*(cm|mm)\b(?:(?!{_LENGTH})[^.;\n]){{0,40}}?\b{words}",
        re.IGNORECASE,
    )


@dataclass(frozen=True, slots=True)
class TextLength:
    value: float
    unit: str
    comparator: str | None

    @property
    def shown(self) -> str:
        return f"{self.comparator or ''}{fmt(self.value)} {self.unit}"


# A number that is the end of a range ("4 to 9 cm", "6-12 cm") or opens one ("10 cm or
# more"): one number of it cannot stand for the distance.
_RANGE_BEFORE = re.compile(rf"{_NUMBER}\s*(?:cm|mm)?\s*(?:-|–|—|to|bis)\s*$", re.IGNORECASE)
_RANGE_AFTER = re.compile(
    r"^\s*(?:or\s+(?:more|less|greater|above|below|over|under|further|closer)|and\s+(?:more|"
    r"above|over|beyond|less|below)|\+|plus)\b",
    re.IGNORECASE,
)


def lengths_in(text: str, anchor: str) -> list[TextLength] | str:
    """Lengths stated before `anchor` in free text; what the text is instead when a
    statement is negated ("no tumour within 10 cm of the anal verge") or gives a range ("4
    to 9 cm", "10 cm or more"), which text matching cannot read as one distance."""
    found: list[TextLength] = []
    for match in _pattern(anchor).finditer(text):
        clause_start = max(text.rfind(c, 0, match.start()) for c in ".;\n") + 1
        if _NEGATION.search(text, clause_start, match.end()):
            return "negated"
        if _RANGE_BEFORE.search(text, clause_start, match.start(3)) or _RANGE_AFTER.match(
            text[match.end(4) :]
        ):
            return "range"
        word, symbol, number, unit = match.groups()
        qualifier = " ".join((word or symbol or "").lower().split())
        comparator = _QUALIFIER_COMPARATOR.get(qualifier, qualifier or None)
        found.append(TextLength(float(number.replace(",", ".")), unit.lower(), comparator))
    return found


def _verb(status: str, op: str, undecided: str) -> str:
    return OP_TEXT[op] if status == MET else NEGATED_TEXT[op] if status == NOT_MET else undecided


def report_number(p: ReportNumber, s: Screening, window: Window) -> Outcome:
    label, threshold, unit = p.label, p.value, p.unit
    code_set = s.code_set(p.code_set)
    candidate = s.latest_single(p.code_set, window)
    if candidate.fact is not None:
        fact = candidate.fact
        try:
            reading = read_number(fact.value, unit, code_set)
        except Undecidable as exc:
            return Outcome(UNKNOWN, f"{label}: {exc} ({fact.ref})", (obs_evidence(fact),))
        status = compare(reading.value, reading.comparator, p.op, threshold)
        return Outcome(
            status,
            f"{label} {shown(reading)} on {day(fact)} {_verb(status, p.op, 'vs')} "
            f"{fmt(threshold)} {unit}",
            (obs_evidence(fact, reading),),
        )
    if (why := s.unavailable("DiagnosticReport")) is not None:
        return Outcome(UNKNOWN, f"{label}: {candidate.reason}; reports unavailable ({why})")
    report_sets = [s.code_set(n) for n in p.report_code_sets]
    anchor = p.anchor.lower()
    allowed = frozenset(p.modalities)
    for report in s.record.reports:  # newest first
        if (
            report.status not in FINAL_REPORT_STATUSES
            or report.date is None
            or not window.contains(report.date)
            or not report.conclusion
        ):
            continue
        # Only the modality the criterion names counts: a report of a known other modality
        # never does, and one outside the report code sets only when its modality is known
        # to be an allowed one and its conclusion names the anchor.
        if allowed and report.modality is not None and report.modality not in allowed:
            continue
        if not (
            any(cs.matches(report.codes) for cs in report_sets)
            or (anchor in report.conclusion.lower() and (not allowed or report.modality in allowed))
        ):
            continue
        found = lengths_in(report.conclusion, p.anchor)
        if isinstance(found, str):
            what = "a negated statement" if found == "negated" else "a range, not one distance"
            return Outcome(
                UNKNOWN,
                f"{label}: report {report.ref} conclusion is {what}; needs reading by a person",
                (Evidence(report.ref, report.conclusion, None, day(report), f"{found} text"),),
            )
        if not found:
            continue
        try:
            readings = {(convert(d.value, d.unit, unit), d.comparator): d for d in found}
        except UnitError:
            return Outcome(UNKNOWN, f"{label}: report {report.ref} length not in {unit}")
        if len(readings) > 1:
            return Outcome(
                UNKNOWN,
                f"{label}: report {report.ref} states several values "
                f"({', '.join(sorted({d.shown for d in found}))})",
                (Evidence(report.ref, None, None, day(report), "ambiguous text"),),
            )
        (value, comparator), stated = next(iter(readings.items()))
        evidence = (
            Evidence(
                report.ref,
                stated.value,
                stated.unit,
                day(report),
                "read from the report conclusion"
                + (f" ({stated.comparator}{fmt(stated.value)})" if stated.comparator else ""),
            ),
        )
        status = compare(value, comparator, p.op, threshold)
        verb = _verb(status, p.op, "cannot be compared with")
        return Outcome(
            status,
            f"{label} {stated.shown} ({p.modality} report {day(report)}) {verb} "
            f"{fmt(threshold)} {unit}",
            evidence,
        )
    return unknown_obs(label, candidate.reason + f"; no {p.modality} report states it")


# Registered here, not with a decorator on each function: mutation testing (scripts/mutate)
# leaves decorated functions unmutated, and these bodies decide the criteria.
rule(ReportNumber)(report_number)
